// The state machine of the metadata group (group 0, replicated on every node; docs/decisions.md D5): topics and
// the placement of their partitions. The metadata leader is the controller: it validates and places topics and
// proposes commands; every node applies them and starts or stops hosting partition groups accordingly.
//
// Owned by the host loop thread; readers on other threads use the immutable copies the host publishes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/internal/state.pb.h"
#include "brook/v1/admin.pb.h"
#include "raft/types.h"
#include "server/machines/state_machine.h"

namespace brook::server {

// What applying one entry of the metadata group tells its proposer and the host.
struct MetadataApplied {
  absl::Status status;                            // what the proposer is answered (ALREADY_EXISTS, NOT_FOUND, ...)
  std::string topic;                              // the topic created or deleted
  internal::TopicRecord created;                  // CreateTopic: the topic as stored (with ids)
  internal::TopicRecord deleted;                  // DeleteTopic: the topic as it was
  internal::TopicRecord altered;                  // AlterTopic: the topic as it is now
  std::vector<internal::TopicRecord> placed_all;  // Decommission: every topic whose placement changed
  // MoveReplicas, CompleteMove, CancelMove, AddPartitions: the topic as it is now (nodes open or close replicas).
  internal::TopicRecord placed;
  int64_t move_started_ms = 0;  // CompleteMove: when the move began
  uint64_t producer_id = 0;     // InitProducer: the identity given
  uint32_t producer_epoch = 0;
  uint64_t node_id = 0;  // AdmitNode: the id given (or given before, to the same incarnation)
};

class MetadataMachine final : public StateMachine<MetadataApplied> {
 public:
  // The state is one key; the applied point is not needed (metadata entries carry no offsets).
  absl::Status Load(const StoredState& state, LogPoint applied = {}) override;
  // Applies one committed entry of group 0. Errors of the command itself go into Applied::status; a returned
  // error means the entry is corrupt.
  absl::StatusOr<Applied> Apply(const raft::Entry& entry, StateDelta* delta) override;

  std::string Snapshot() const override { return state_.SerializeAsString(); }
  absl::Status Restore(std::string_view snapshot, LogPoint log_start, StateDelta* delta) override;

  const internal::MetadataState& state() const { return state_; }

  // Places a new topic's partitions on `nodes` (the cluster's node ids): each partition's first replica (its
  // preferred leader) goes to the node that currently is preferred leader of the fewest partitions (ties: lowest
  // id), and the other replicas follow it in node-id order, wrapping around. Group ids are assigned at apply.
  static internal::TopicRecord Place(const v1::CreateTopicRequest& req, uint32_t replication_factor,
                                     const std::vector<uint64_t>& nodes, const internal::MetadataState& state,
                                     int64_t now_ms);

  // INVALID_ARGUMENT unless `target` is exactly the topic's replication factor of distinct nodes, every one in
  // `members` (the controller's check and the apply's, on every node alike).
  static absl::Status CheckMoveTarget(const internal::TopicRecord& topic, const std::vector<uint64_t>& target,
                                      const std::vector<uint64_t>& members);
  // The partition of group `group_id`, or nullptr (a scan of every topic's partitions).
  const internal::PartitionAssignment* FindGroup(uint64_t group_id, std::string* topic = nullptr) const;

  static constexpr std::string_view kStateKey = "meta";
  // Producer ids the metadata group assigns have this bit set; clients that draw random ids keep it clear.
  static constexpr uint64_t kAssignedProducerIdBit = uint64_t{1} << 63;

  // RESOURCE_EXHAUSTED when a topic of `new_partitions` partitions would pass the cluster's topic or partition
  // limit (checked by the controller before proposing, and again when applying, on every node alike).
  absl::Status CheckClusterLimits(int new_partitions) const;

 private:
  // Invariant: next_group_id is larger than every group id of every topic ever created (ids are never reused,
  // so a deleted topic's leftover Raft messages can never reach a new topic's group).
  internal::MetadataState state_;

  // One entry's command against the state (Apply persists the state and the index after it).
  absl::StatusOr<Applied> ApplyCommand(const raft::Entry& entry);

  // InitProducer: the named producer's id and next epoch (a fresh id for an empty name, or when the epoch would
  // wrap), or RESOURCE_EXHAUSTED past Limits::kMaxNamedProducers names.
  void InitProducer(const internal::MetadataCommand::InitProducer& cmd, MetadataApplied& out);
  uint64_t NextProducerId();
  // RegisterNode: records a member's addresses (INVALID_ARGUMENT for an id or address out of bounds,
  // RESOURCE_EXHAUSTED past Limits::kMaxNodesPerCluster records).
  void RegisterNode(const internal::NodeRecord& node, MetadataApplied& out);
  // AdmitNode (metadata_nodes.cc): records a joining node with a new id (out.node_id), or answers the id of the
  // record with its incarnation (FAILED_PRECONDITION when that node was removed); RESOURCE_EXHAUSTED past
  // Limits::kMaxNodesPerCluster records, INVALID_ARGUMENT for an address out of bounds.
  void AdmitNode(const internal::MetadataCommand::AdmitNode& cmd, MetadataApplied& out);
  static absl::Status CheckAddresses(const internal::NodeRecord& node);
  // AlterTopic: merges the named fields into the topic's config (NOT_FOUND for another incarnation or none,
  // INVALID_ARGUMENT when the result breaks a rule; the state is then unchanged).
  void AlterTopic(const internal::MetadataCommand::AlterTopic& cmd, MetadataApplied& out);
  // Replica moves (metadata_moves.cc): each refuses (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION) with the
  // state unchanged, or changes one partition and sets out.placed.
  void MoveReplicas(const internal::MetadataCommand::MoveReplicas& cmd, MetadataApplied& out);
  void CompleteMove(const internal::MetadataCommand::CompleteMove& cmd, MetadataApplied& out);
  void CancelMove(const internal::MetadataCommand::CancelMove& cmd, MetadataApplied& out);
  void AddPartitions(const internal::MetadataCommand::AddPartitions& cmd, MetadataApplied& out);
  // The commands of metadata_moves.cc.
  void ApplyPlacement(const internal::MetadataCommand& cmd, MetadataApplied& out);
  // Every move as MoveReplicas, and the node DRAINING; on any refusal nothing changes.
  void Decommission(const internal::MetadataCommand::Decommission& cmd, MetadataApplied& out);
  void CancelDecommission(const internal::MetadataCommand::CancelDecommission& cmd, MetadataApplied& out);
  void SetPreferredLeader(const internal::MetadataCommand::SetPreferredLeader& cmd, MetadataApplied& out);
  // Access control (metadata_access.cc): each refuses (INVALID_ARGUMENT, ALREADY_EXISTS, NOT_FOUND,
  // RESOURCE_EXHAUSTED) with the state unchanged.
  void ApplyAccess(const internal::MetadataCommand& cmd, MetadataApplied& out);
  void ChangeAcl(const internal::MetadataCommand::ChangeAcl& cmd, MetadataApplied& out);
  void SetQuota(const internal::MetadataCommand::SetQuota& cmd, MetadataApplied& out);
  // The topic `name` of incarnation `topic_id` (0: any), or NOT_FOUND in out.status.
  internal::TopicRecord* FindTopic(const std::string& name, uint64_t topic_id, MetadataApplied& out);
  // Nodes whose record is ACTIVE (what a move or a placement may pick).
  std::vector<uint64_t> NodeIds() const;
};

// A topic as stored, in its API form (no live partition state).
v1::Topic TopicToApi(const internal::TopicRecord& t);

}  // namespace brook::server
