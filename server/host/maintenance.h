// Keeping hosted partitions in shape: retention (each replica trims its own log prefix by the topic's limits,
// Kafka's model), key compaction (each replica compacts its own applied log prefix, on the node's background
// worker, server/host/compaction_worker.h; docs/decisions.md A12) and leadership transfers (TransferLeadership
// calls, handing every leadership away before a graceful shutdown, and leader balancing).
//
// Loop thread only (Host posts to it and runs the periodic parts from its turn).
#pragma once

#include <functional>

#include "brook/v1/admin.pb.h"
#include "server/host/context.h"

namespace brook::server {

class Maintenance {
 public:
  explicit Maintenance(HostContext* ctx) : ctx_(ctx) {}

  // Trims every partition's log by its topic's retention_bytes and retention_ms, never past what it applied. A
  // follower that later needs trimmed entries gets a snapshot from its leader. Cost: two index seeks per group.
  void EnforceRetention();

  // Key compaction, every turn: takes the worker's result once its pass ended (updates the partition's
  // compaction state and counters, and drops a log prefix the pass left without records, as retention does: a
  // follower that needs it gets a snapshot). Then, every compaction_interval and when the worker is idle, hands it
  // the next compacted partition that is due (HostOptions), round robin. Cost when nothing is due: one look at
  // each partition's offsets.
  void Compact(Clock::TimePoint now);

  // Starts moving a partition's leadership (to the most caught-up other voter when no target is named); `done`
  // runs when the target leads, or with DEADLINE_EXCEEDED after three election timeouts.
  void TransferLeadership(const v1::TransferLeadershipRequest& req,
                          std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done);
  // Answers the transfers of `g` that landed or timed out. Called every turn.
  void CheckTransfers(PartitionGroup& g);
  // Asks every group this node leads to hand leadership to its most caught-up, recently active other voter, and
  // marks the node draining.
  void TransferAllLeadership();

  // Leader balancing, every turn: once per HostOptions::leader_balance_interval (unless the metadata group says
  // paused, or the node drains), each partition this node leads and serves whose preferred replica (its first)
  // is another node, caught up to the commit index and heard from within an election timeout, starts a transfer
  // to it; at most kMaxBalanceMoves per look. Cost: one look at each hosted partition per interval.
  void BalanceLeaders(Clock::TimePoint now);
  // The controller's half of balancing, at the same interval: when the active node with the most preferred
  // leaderships has at least two more than another active node that is a replica of one of those partitions, it
  // proposes SetPreferredLeader to make that node the partition's first replica (one proposal per look; the
  // partition's leader then moves the leadership as above). So preferred leaders even out after nodes join, moves
  // and decommissions, without moving data.
  void EvenPreferredLeaders();
  static constexpr int kMaxBalanceMoves = 8;
  // SetLeaderBalancer on the controller: proposes the setting; `done` gets it as applied.
  void SetLeaderBalancer(bool paused, std::function<void(grpc::Status, v1::SetLeaderBalancerResponse)> done);

 private:
  void EnforceRetention(PartitionGroup& g, const v1::TopicConfig& config, int64_t now_ms);
  bool CompactionDue(const PartitionGroup& g, int64_t now_ms) const;
  bool SubmitCompaction(PartitionGroup& g, const v1::TopicConfig& config, int64_t now_ms);
  void FinishCompaction(const CompactionResult& r);

  HostContext* const ctx_;
  bool evening_ = false;  // a SetPreferredLeader proposal in flight
  Clock::TimePoint next_compaction_check_{};
  raft::GroupId last_compacted_ = 0;  // round robin: the next pass goes to a partition after this one
  Clock::TimePoint next_balance_{};
};

}  // namespace brook::server
