// Member nodes' addresses, kept by the metadata group (docs/decisions.md A13). The controller records each
// member's client and metrics addresses with a RegisterNode command: its own from its flags, a peer's from what
// the peer advertised on its authenticated node-to-node stream. Every node answers clients (GetMetadata,
// DescribeCluster, NotLeader hints) from those records only, so an address reaches the cluster's view once,
// through the metadata log, and every node gives the same answer.
//
// Loop thread only. Cost on the controller: one comparison per member per turn, one proposal per change (at most
// one in flight and one a second per node); elsewhere nothing.
#pragma once

#include <map>
#include <set>
#include <string>

#include "server/host/context.h"

namespace brook::server {

class Members {
 public:
  explicit Members(HostContext* ctx) : ctx_(ctx) {}

  // On the controller, once it serves: proposes RegisterNode for each member of the metadata group (voter or
  // learner) whose advertised addresses differ from its record.
  void Register(Clock::TimePoint now);

  // This node's record holds the addresses it serves on (it does not call itself ready before).
  bool SelfRegistered() const;

  static constexpr std::chrono::seconds kRetryInterval{1};

 private:
  HostContext* const ctx_;
  std::map<raft::NodeId, Clock::TimePoint> next_try_;  // no proposal for a node before this time
  std::set<raft::NodeId> in_flight_;
};

}  // namespace brook::server
