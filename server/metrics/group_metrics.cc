// Consumer-group metrics (docs/metrics.md "Consumer groups"): reported by the node that leads each group's
// coordinator partition. Per-group series are capped at kMaxGroupSeries per node (label cardinality); the
// node-level totals count every group.
#include "absl/strings/str_cat.h"
#include "server/metrics/metrics.h"

namespace brook::server {
namespace {

constexpr size_t kMaxGroupSeries = 1000;

}  // namespace

void Metrics::BuildGroupMetrics(prometheus::Registry& r) {
  group_rebalance_seconds_ =
      &prometheus::BuildHistogram()
           .Name("brook_consumer_group_rebalance_seconds")
           .Help(
               "Coordinator: time from a change of a group's members, subscriptions or partitions until every "
               "member owns what the assignor gave it")
           .Register(r)
           .Add({},
                prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300});
}

void Metrics::ObserveGroupRebalance(std::chrono::steady_clock::duration took) {
  group_rebalance_seconds_->Observe(std::chrono::duration<double>(took).count());
}

void Metrics::ApplyCoordinatorStats(const std::vector<GroupStats>& stats) {
  size_t groups = 0, members = 0, reconciling = 0, series = 0;
  for (const auto& g : stats) {
    for (const auto& c : g.coordinated) {
      ++groups;
      members += c.members;
      reconciling += c.reconciling ? 1 : 0;
      if (series++ >= kMaxGroupSeries) continue;
      const std::map<std::string, std::string> l{{"group", c.group}};
      GaugeOf("brook_consumer_group_members", "Coordinator: members of the group", l)
          .Set(static_cast<double>(c.members));
      GaugeOf("brook_consumer_group_epoch", "Coordinator: the group's epoch (bumped by every membership change)",
              l)
          .Set(static_cast<double>(c.epoch));
      GaugeOf("brook_consumer_group_reconciling", "Coordinator: 1 while partitions of the group are moving", l)
          .Set(c.reconciling ? 1 : 0);
      SetTotal(CounterOf("brook_consumer_group_rebalances_total", "Coordinator: rebalances of the group", l),
               static_cast<double>(c.rebalances));
      GaugeOf("brook_consumer_group_total_lag",
              "Coordinator: records after the group's committed offsets, over partitions with a replica here", l)
          .Set(static_cast<double>(c.lag));
      GaugeOf("brook_consumer_group_lag_unknown_partitions",
              "Coordinator: committed partitions without a replica here (not in total_lag)", l)
          .Set(static_cast<double>(c.lag_unknown));
    }
  }
  GaugeOf("brook_coordinator_groups", "Consumer groups coordinated by this node", {})
      .Set(static_cast<double>(groups));
  GaugeOf("brook_coordinator_members", "Members of the consumer groups coordinated by this node", {})
      .Set(static_cast<double>(members));
  GaugeOf("brook_coordinator_groups_reconciling", "Groups coordinated here with partitions moving", {})
      .Set(static_cast<double>(reconciling));
}

}  // namespace brook::server
