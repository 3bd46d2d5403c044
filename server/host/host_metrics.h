// What the host loop reports to the metrics layer (server/metrics/metrics.h implements it with prometheus-cpp).
// Called on the loop thread; implementations must be cheap and must not block.
#pragma once

#include <chrono>
#include <cstddef>

#include "raft/types.h"
#include "server/machines/compaction.h"
#include "server/machines/partition_machine.h"

namespace brook::server {

class HostMetrics {
 public:
  virtual ~HostMetrics() = default;
  // One group-commit storage write of `groups` groups' work; `synced` if it fsynced.
  virtual void ObserveWrite(size_t groups, bool synced, std::chrono::steady_clock::duration latency) = 0;
  // A record batch was applied in partition group `group`.
  virtual void ObserveApplied(raft::GroupId group, const PartitionApplied& applied) = 0;
  // A proposal of this leader committed and was applied, `latency` after it was proposed.
  virtual void ObserveCommit(raft::GroupId group, std::chrono::steady_clock::duration latency) = 0;
  // A key-compaction pass of partition group `group` ended after `took`, with `outcome`.
  // Controller: a replica move completed after `took`, having copied about `bytes` to its new replicas.
  virtual void ObserveMoveCompleted(std::chrono::milliseconds /*took*/, uint64_t /*bytes*/) {}
  // Controller: partitions with a move running.
  virtual void SetMovesInFlight(int /*moves*/) {}
  // Coordinator leader: a consumer group became stable `took` after its membership, subscription or partition
  // counts changed (a rebalance ended).
  virtual void ObserveGroupRebalance(std::chrono::steady_clock::duration /*took*/) {}
  virtual void ObserveCompaction(raft::GroupId /*group*/, const PassOutcome& /*outcome*/,
                                 std::chrono::steady_clock::duration /*took*/) {}
};

}  // namespace brook::server
