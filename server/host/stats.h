// A moment's state of every hosted group, for metrics (server/metrics/metrics.h samples it twice a second).
//
// Loop thread: Collect reads the groups; the result is a plain copy any thread may keep.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/host/context.h"

namespace brook::server {

struct GroupStats {
  raft::GroupId group = 0;
  bool is_metadata = false;
  std::string topic;
  uint32_t partition = 0;
  raft::Term term = 0;
  raft::Index commit_index = 0;
  raft::Index applied_index = 0;
  raft::Index last_index = 0;
  raft::NodeId leader = 0;
  bool is_leader = false;
  bool quiesced = false;  // quiet: idle and caught up, not ticking (server/host/quiescence.h)
  bool asleep = false;    // quiet and left out of the loop's per-turn walks (GroupRegistry::SleepIdle)
  uint64_t high_watermark = 0;
  uint64_t log_start_offset = 0;
  uint64_t log_end_offset = 0;
  // Leader only: the largest (last_index - match) over voters, and voters whose match < commit index.
  uint64_t max_follower_lag = 0;
  uint32_t under_replicated = 0;
  uint32_t replicas = 0;
  GroupCounters counters;         // totals since the node started
  raft::DroppedMessages dropped;  // messages the Raft core refused, by reason (raft/validate_message.h)
  std::map<std::string, uint64_t> group_offsets;  // consumer group -> committed offset (partitions only)
  // A coordinator partition of __consumer_groups led here: the groups it coordinates.
  struct Coordinated {
    std::string group;
    uint32_t members = 0;
    uint32_t epoch = 0;
    uint64_t rebalances = 0;
    bool reconciling = false;
    uint64_t lag = 0;          // over committed partitions with a replica on this node
    uint32_t lag_unknown = 0;  // committed partitions without a replica here (not in `lag`)
  };
  std::vector<Coordinated> coordinated;
};

// What the node-wide metrics need, summed over every hosted partition (the metadata group is not in it).
struct PartitionTotals {
  uint64_t partitions = 0;
  uint64_t led = 0;
  uint64_t leaderless = 0;
  uint64_t under_replicated = 0;  // led partitions with a voter behind the commit index or not heard from
  uint64_t quiet = 0;
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t leader_changes = 0;
  raft::DroppedMessages dropped;
};

struct StatsSample {
  // The metadata group first. Then, with per-partition detail, every partition; without it, only the
  // __consumer_groups partitions led here (their coordinated groups are always reported).
  std::vector<GroupStats> groups;
  PartitionTotals totals;
};

// A sample of every hosted group. Cost: O(groups x replicas); with per-partition detail, also a copy per group
// with its storage bounds and consumer-group offsets.
StatsSample CollectStats(const HostContext& ctx, bool per_partition);

}  // namespace brook::server
