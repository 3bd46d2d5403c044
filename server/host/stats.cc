#include "server/host/stats.h"

#include <algorithm>

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

}  // namespace

std::vector<GroupStats> CollectStats(const HostContext& ctx) {
  std::vector<GroupStats> out;
  out.reserve(ctx.groups->size());
  out.push_back(StatsOf(ctx, ctx.groups->metadata()));
  for (const auto& [id, g] : ctx.groups->partitions()) {
    GroupStats s = StatsOf(ctx, *g);
    s.high_watermark = g->machine().end_offset();
    for (const auto& [name, offset] : g->machine().groups()) s.group_offsets[name] = offset.offset();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace brook::server
