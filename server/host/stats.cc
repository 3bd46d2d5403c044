#include "server/host/stats.h"

#include <algorithm>

#include "server/host/coordinator.h"

namespace brook::server {
namespace {

GroupStats StatsOf(const HostContext& ctx, const Group& g) {
  GroupStats s;
  s.group = g.id();
  s.is_metadata = g.id() == kMetadataGroupId;
  s.topic = g.topic();
  s.partition = g.partition();
  s.term = g.raft().term();
  s.commit_index = g.raft().commit_index();
  s.applied_index = g.applied();
  s.last_index = g.raft().last_index();
  s.leader = g.raft().leader();
  s.is_leader = g.raft().role() == raft::Role::kLeader;
  s.quiesced = g.raft().quiesced();
  s.asleep = g.asleep;
  s.replicas = static_cast<uint32_t>(g.raft().conf().voters.size());
  auto bounds = ctx.store->Bounds(g.id());
  s.log_start_offset = bounds.log_start_offset;
  s.log_end_offset = bounds.end_offset;
  if (s.is_leader) {
    for (const auto& p : g.raft().progress()) {
      if (p.learner) continue;
      s.max_follower_lag = std::max<uint64_t>(s.max_follower_lag, s.last_index - std::min(p.match, s.last_index));
      if (!ctx.Heard(p) || p.match < s.commit_index) ++s.under_replicated;
    }
  }
  s.counters = g.counters();
  s.dropped = g.raft().dropped();
  return s;
}

// The groups a coordinator partition led here holds, with their lag where this node has the partition.
void CollectCoordinated(const HostContext& ctx, const PartitionGroup& g, GroupStats& s) {
  for (const auto& [name, group] : g.machine().coordinator().groups()) {
    GroupStats::Coordinated c;
    c.group = name;
    c.members = static_cast<uint32_t>(group.members.size());
    c.epoch = group.epoch;
    c.rebalances = group.rebalances;
    c.reconciling = !group.members.empty() && !group.Stable();
    for (const auto& [tp, o] : group.offsets) {
      const PartitionGroup* p = ctx.groups->FindPartition(tp.topic, tp.partition);
      if (p == nullptr) {
        ++c.lag_unknown;
        continue;
      }
      const uint64_t hwm = p->machine().end_offset();
      c.lag += hwm > o.offset ? hwm - o.offset : 0;
    }
    s.coordinated.push_back(std::move(c));
  }
}

}  // namespace

StatsSample CollectStats(const HostContext& ctx, bool per_partition) {
  StatsSample out;
  out.groups.reserve(per_partition ? ctx.groups->size() : 1);
  out.groups.push_back(StatsOf(ctx, ctx.groups->metadata()));
  PartitionTotals& t = out.totals;
  for (const auto& [id, g] : ctx.groups->partitions()) {
    const raft::RaftNode& r = g->raft();
    const bool leads = r.role() == raft::Role::kLeader;
    ++t.partitions;
    t.led += leads ? 1 : 0;
    t.leaderless += r.leader() == 0 ? 1 : 0;
    t.quiet += r.quiesced() ? 1 : 0;
    if (leads) {
      const auto progress = r.progress();
      t.under_replicated += std::any_of(progress.begin(), progress.end(), [&](const raft::ReplicaProgress& p) {
        return !p.learner && (!ctx.Heard(p) || p.match < r.commit_index());
      });
    }
    t.elections_started += g->counters().elections_started;
    t.elections_won += g->counters().elections_won;
    t.leader_changes += g->counters().leader_changes;
    for (size_t i = 0; i < raft::kDropReasonCount; ++i) t.dropped.by_reason[i] += r.dropped().by_reason[i];
    const bool coordinates = leads && g->topic() == kGroupsTopic;
    if (!per_partition && !coordinates) continue;
    GroupStats s = StatsOf(ctx, *g);
    s.high_watermark = g->machine().end_offset();
    for (const auto& [name, offset] : g->machine().groups()) s.group_offsets[name] = offset.offset();
    if (coordinates) CollectCoordinated(ctx, *g, s);
    out.groups.push_back(std::move(s));
  }
  return out;
}

}  // namespace brook::server
