// ConsumerGroups.Heartbeat on the host loop (docs/decisions.md A19): group G is coordinated by the leader of
// partition fnv1a32(G) mod N of the internal topic __consumer_groups, whose Raft group replicates the
// coordinator machine (server/machines/group_coordinator.h). This handler builds each heartbeat into a command
// (the member id of a join, the partition counts of every topic the group reads, the clock), answers at once
// when the command would change nothing, and otherwise proposes it and answers when it applies.
//
// Liveness is the leader's alone: when each member was last heard and when it was asked to give partitions up.
// ExpireMembers proposes RemoveMember for a member whose session or rebalance timeout ran out. A node that becomes
// leader of a coordinator partition starts every member's clock afresh.
//
// Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "brook/v1/groups.pb.h"
#include "server/host/clock.h"
#include "server/host/context.h"

namespace brook::server {

inline constexpr char kGroupsTopic[] = "__consumer_groups";

class GroupCoordinatorHandler {
 public:
  // `hinted_leader` answers the leader (and term) of a group hosted elsewhere, as its leader announces it.
  using HintedLeader = std::function<std::pair<raft::NodeId, raft::Term>(uint64_t group_id)>;
  GroupCoordinatorHandler(HostContext* ctx, HintedLeader hinted_leader)
      : ctx_(ctx), hinted_leader_(std::move(hinted_leader)) {}

  void Heartbeat(const v1::HeartbeatRequest& req, std::function<void(grpc::Status, v1::HeartbeatResponse)> done);
  // A group member's fenced commit (CommitOffsetsRequest with a member_id).
  void Commit(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done);
  // Admin calls (group_admin.cc).
  void Describe(const v1::DescribeGroupRequest& req,
                std::function<void(grpc::Status, v1::DescribeGroupResponse)> done);
  void List(const v1::ListGroupsRequest& req, std::function<void(grpc::Status, v1::ListGroupsResponse)> done);
  void Delete(const v1::DeleteGroupRequest& req, std::function<void(grpc::Status)> done);
  void ResetOffsets(const v1::ResetOffsetsRequest& req, std::function<void(grpc::Status)> done);

  // Proposes the removal of members whose session or revocation ran out, on coordinator partitions led here.
  void ExpireMembers(Clock::TimePoint now);

  // The partition of __consumer_groups that coordinates `group`: FNV-1a (32 bits) of its bytes mod `partitions`.
  static uint32_t CoordinatorPartition(std::string_view group, uint32_t partitions);

  static constexpr uint32_t kDefaultSessionTimeoutMs = 10'000;
  static constexpr uint32_t kDefaultRebalanceTimeoutMs = 60'000;

 private:
  struct Clock_ {
    Clock::TimePoint heard;
    Clock::TimePoint revoking_since;  // time_point::max() while nothing is being revoked
    bool removing = false;            // a RemoveMember is proposed
  };
  struct PartitionClocks {
    raft::Term term = 0;                                            // the leadership term the clocks belong to
    std::map<std::pair<std::string, std::string>, Clock_> members;  // (group, member id)
  };

  // The coordinator partition group of `group` when led here, or the status to answer (NotLeader, retry while
  // __consumer_groups is created).
  grpc::Status Resolve(const std::string& group, PartitionGroup** out);
  // Proposes the creation of __consumer_groups when this node is the controller.
  void CreateGroupsTopic();
  internal::GroupCommand BuildCommand(const v1::HeartbeatRequest& req, const PartitionGroup& g);
  void Answer(PartitionGroup& g, const internal::GroupCommand& cmd, const GroupApplied& r,
              const std::function<void(grpc::Status, v1::HeartbeatResponse)>& done);
  PartitionClocks& ClocksOf(PartitionGroup& g);
  // Times rebalances for the metrics: one starts when a command changed the group, and ends when it is stable.
  void TrackRebalance(PartitionGroup& g, const std::string& group, bool changed);
  // Proposes `cmd` on coordinator partition `g`; `done` gets the applied result (status OK) or why it was not
  // applied (then the group and result are null).
  using Applied = std::function<void(const grpc::Status&, PartitionGroup*, const GroupApplied*)>;
  void Propose(PartitionGroup& g, const internal::GroupCommand& cmd, Applied done);
  // The partition group leading coordinator partition `p`, or the status to answer.
  grpc::Status ResolvePartition(uint32_t p, PartitionGroup** out);
  // Proposes a command that answers only a status (commit, delete, reset).
  void ProposeForStatus(const std::string& group, const internal::GroupCommand& cmd,
                        std::function<void(grpc::Status)> done);

  HostContext* const ctx_;
  HintedLeader hinted_leader_;
  bool creating_ = false;
  std::map<uint64_t, PartitionClocks> clocks_;                                // by coordinator partition group id
  std::map<std::pair<uint64_t, std::string>, Clock::TimePoint> rebalancing_;  // (partition group, group) -> since
  Clock::TimePoint next_expiry_check_{};
};

// Appends a partition set as v1 TopicPartitions (one entry per topic, partitions ascending).
void AddTopicPartitions(const PartitionSet& set, google::protobuf::RepeatedPtrField<v1::TopicPartitions>* out);

// The gRPC status of a refused group command: its code and message, with a GroupError detail.
grpc::Status GroupRefusalStatus(const std::string& group, const GroupApplied& r);

}  // namespace brook::server
