// Admitting nodes to a running cluster (docs/decisions.md A16, docs/operations.md "Adding a node").
//
// A node started with brookd --join asks any member (NodeTransport.Join); a member that is not the controller
// names the controller. The controller proposes AdmitNode: the metadata group records the node JOINING with the
// next node id (ids are never reused) and its addresses, and the controller answers the id and the members'
// node-to-node addresses. From then on the controller, one membership change at a time:
//   - adds a JOINING node to the metadata group as a learner (it receives the metadata log by snapshot + log);
//   - marks a JOINING member ACTIVE once it holds the metadata group's commit index and was heard from (placement
//     and moves may then pick it);
//   - promotes a caught-up ACTIVE learner to voter while the metadata group has fewer than kMaxMetadataVoters
//     voters (so the group regains voters after decommissions, and stays at most 5 wide).
// Every node makes its transport follow the records: a member with a peer address gets a stream, a REMOVED node
// loses its stream and may not open one.
//
// Loop thread only. Cost: one scan of the node records per kInterval when the metadata group applied something
// (every node), one of its progress (the controller); at most one proposal in flight.
#pragma once

#include <chrono>
#include <functional>

#include "brook/internal/transport.pb.h"
#include "server/host/context.h"

namespace brook::server {

class Admission {
 public:
  explicit Admission(HostContext* ctx) : ctx_(ctx) {}

  // NodeTransport.Join: on the controller, admits the node (or answers the id its incarnation was given); on any
  // other node, answers node_id 0 and the controller's peer address.
  void Join(const internal::JoinRequest& req, std::function<void(grpc::Status, internal::JoinResponse)> done);

  void Run(Clock::TimePoint now);

  // This node's record says JOINING (it does not call itself ready before it is ACTIVE).
  bool Joining() const;

  static constexpr size_t kMaxMetadataVoters = 5;
  static constexpr std::chrono::milliseconds kInterval{100};

 private:
  void SyncPeers();
  void Advance();

  HostContext* const ctx_;
  Clock::TimePoint next_run_{};
  raft::Index synced_at_ = 0;  // the metadata applied index the transport's peers last followed
  bool in_flight_ = false;     // a SetNodeState proposal
};

}  // namespace brook::server
