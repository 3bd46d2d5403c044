// The key-compaction and replica-move metrics of Metrics (docs/metrics.md "Key compaction", "Replica moves").
#include "absl/strings/str_cat.h"
#include "server/metrics/metrics.h"

namespace brook::server {

void Metrics::BuildCompactionMetrics(prometheus::Registry& r) {
  compaction_seconds_ =
      &prometheus::BuildHistogram()
           .Name("brook_compaction_pass_seconds")
           .Help("Key compaction passes on this node (all partitions), by duration")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300});
  auto counter = [&](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
  };
  compaction_passes_ = counter("brook_compaction_passes_total", "Key compaction passes on this node");
  compaction_removed_ = counter("brook_compaction_records_removed_total", "Records key compaction removed here");
  compaction_bytes_before_ = counter("brook_compaction_bytes_before_total",
                                     "Entry bytes of the entries key compaction rewrote here, before");
  compaction_bytes_after_ = counter("brook_compaction_bytes_after_total",
                                    "Entry bytes of the entries key compaction rewrote here, after");
  // Replica moves (docs/metrics.md "Replica moves"): observed by the controller.
  move_seconds_ = &prometheus::BuildHistogram()
                       .Name("brook_replica_move_seconds")
                       .Help("Replica moves this node recorded complete as controller, by time from start to end")
                       .Register(r)
                       .Add({}, prometheus::Histogram::BucketBoundaries{1, 5, 15, 60, 300, 900, 3600, 14400});
  move_bytes_ = counter("brook_replica_move_bytes_total",
                        "Bytes the moves this node recorded complete copied to new replicas (RocksDB's estimate)");
  moves_in_flight_ = &prometheus::BuildGauge()
                          .Name("brook_replica_moves_in_flight")
                          .Help("Partitions with a replica move running (on the controller; 0 elsewhere)")
                          .Register(r)
                          .Add({});
}

void Metrics::ObserveMoveCompleted(std::chrono::milliseconds took, uint64_t bytes) {
  move_seconds_->Observe(std::chrono::duration<double>(took).count());
  move_bytes_->Increment(static_cast<double>(bytes));
}

void Metrics::SetMovesInFlight(int moves) { moves_in_flight_->Set(moves); }

void Metrics::ObserveCompaction(raft::GroupId, const PassOutcome& o, std::chrono::steady_clock::duration took) {
  compaction_seconds_->Observe(std::chrono::duration<double>(took).count());
  compaction_passes_->Increment();
  compaction_removed_->Increment(static_cast<double>(o.records_removed));
  compaction_bytes_before_->Increment(static_cast<double>(o.bytes_before));
  compaction_bytes_after_->Increment(static_cast<double>(o.bytes_after));
}

void Metrics::ApplyCompactionStats(const GroupCounters& c, const std::map<std::string, std::string>& l) {
  const std::pair<const char*, uint64_t> series[] = {{"passes", c.compaction_passes},
                                                     {"records_removed", c.compaction_records_removed},
                                                     {"bytes_before", c.compaction_bytes_before},
                                                     {"bytes_after", c.compaction_bytes_after},
                                                     {"drops", c.compaction_drops}};
  for (const auto& [what, value] : series) {
    SetTotal(
        CounterOf(absl::StrCat("brook_partition_compaction_", what, "_total"),
                  absl::StrCat("Key compaction of the partition on this node: ", what, " (docs/metrics.md)"), l),
        static_cast<double>(value));
  }
}

}  // namespace brook::server
