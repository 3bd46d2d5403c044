// Keeping hosted partitions in shape: retention (each replica trims its own log prefix by the topic's limits,
// Kafka's model) and leadership transfers (TransferLeadership calls, and handing every leadership away before a
// graceful shutdown).
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

  // Starts moving a partition's leadership (to the most caught-up other voter when no target is named); `done`
  // runs when the target leads, or with DEADLINE_EXCEEDED after three election timeouts.
  void TransferLeadership(const v1::TransferLeadershipRequest& req,
                          std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done);
  // Answers the transfers of `g` that landed or timed out. Called every turn.
  void CheckTransfers(PartitionGroup& g);
  // Asks every group this node leads to hand leadership to its most caught-up, recently active other voter.
  void TransferAllLeadership();

 private:
  void EnforceRetention(PartitionGroup& g, const v1::TopicConfig& config, int64_t now_ms);

  HostContext* const ctx_;
};

}  // namespace brook::server
