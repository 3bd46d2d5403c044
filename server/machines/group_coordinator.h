// The consumer-group coordinator of one coordinator partition (docs/decisions.md A19): every group whose id hashes
// to the partition, its members, their assignments and the group's committed offsets. A deterministic machine:
// the partition's Raft group carries GroupCommands and every replica applies them alike, so the group survives
// the loss of the node that coordinates it. What is not replicated (when each member last heartbeat, when a
// revocation began) lives on the leader only; a new leader starts every member's clock afresh.
//
// The protocol (incremental, as Kafka's KIP-848): a member joins and heartbeats with one command; the answer is
// what it owns now. When the assignor moves a partition, its old owner is told to give it up first (its `revoking`
// set); it commits, heartbeats without it, and only then does the new owner get it. So no partition is ever owned
// by two members, and members keep every partition that need not move. A member that does not heartbeat within its
// session timeout, or does not give up a partition within its rebalance timeout, is removed by the leader and its
// partitions are free at once: its epoch is gone, so nothing it sends later is accepted.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/internal/groups.pb.h"
#include "server/common/limits.h"
#include "server/machines/assignors.h"

namespace brook::server {

struct GroupMember {
  std::string id;
  std::string instance_id;
  uint32_t epoch = 0;
  uint32_t previous_epoch = 0;
  std::vector<std::string> topics;
  std::map<TopicPartition, uint32_t> owned;  // partition -> member epoch it was given at
  PartitionSet revoking;                     // owned partitions it must give up
  PartitionSet target;
  uint32_t session_timeout_ms = 0;
  uint32_t rebalance_timeout_ms = 0;
  bool away = false;
  int64_t joined_ms = 0;
};

struct GroupOffset {
  uint64_t offset = 0;
  std::string metadata;
  int64_t commit_time_ms = 0;
};

struct ConsumerGroup {
  std::string id;
  uint32_t epoch = 0;
  uint32_t target_epoch = 0;
  std::string assignor;
  std::map<std::string, GroupMember> members;  // by member id
  std::map<std::string, uint32_t> partition_counts;
  std::map<TopicPartition, GroupOffset> offsets;
  int64_t created_ms = 0;
  uint64_t rebalances = 0;

  // The member that owns `tp`, or nullptr.
  const GroupMember* Owner(const TopicPartition& tp) const;
  // Every member owns exactly its target and gives nothing up (no rebalance under way). False without members.
  bool Stable() const;
};

// Why a command was refused, for the answer's structured details.
enum class GroupRefusal {
  kNone,
  kUnknownMember,  // no such member (never joined, left, or removed): join again with epoch 0
  kFencedEpoch,    // the epoch is neither the member's current nor its previous one: join again
  kStaleEpoch,     // a commit with an epoch from before the member got the partition, or past its current
  kNotOwner,       // a commit for a partition the member does not own
  kGroupNotEmpty,  // a commit without a member, a reset or a delete while the group has members
  kUnknownGroup,   // no such group
  kGroupFull,      // the group has kMaxMembers members
  kTooManyGroups,  // the coordinator holds kMaxGroups groups
  kInvalid,        // a malformed command (bad epoch, unknown assignor)
};

struct GroupApplied {
  absl::Status status;
  GroupRefusal refusal = GroupRefusal::kNone;
  std::string member_id;
  uint32_t member_epoch = 0;
  PartitionSet assignment;     // a heartbeat's answer: what the member owns now, minus what it must give up
  PartitionSet revoking;       // ... and what it must give up
  bool group_changed = false;  // membership, subscription or counts changed (a rebalance began)
  bool group_deleted = false;
};

class GroupCoordinator {
 public:
  static constexpr size_t kMaxMembers = Limits::kMaxMembersPerGroup;
  static constexpr size_t kMaxGroups = Limits::kMaxGroupsPerCoordinator;
  static constexpr size_t kMaxIdBytes = 255;  // member and instance ids
  static constexpr size_t kMaxTopicsPerGroup = Limits::kMaxTopicsPerGroup;
  static constexpr size_t kMaxPartitionsPerGroup = Limits::kMaxPartitionsPerGroup;

  // The bounds every command must keep (its ids, topic and partition counts, offsets); INVALID_ARGUMENT naming
  // the first one it breaks. Apply checks it first: entry bytes may be hostile.
  static absl::Status CheckCommand(const internal::GroupCommand& cmd);

  // Applies one command. The command's own failures go into GroupApplied::status; the machine is unchanged then.
  GroupApplied Apply(const internal::GroupCommand& cmd);

  const ConsumerGroup* Find(const std::string& group) const;
  const std::map<std::string, ConsumerGroup>& groups() const { return groups_; }

  // Whether applying `cmd` would change anything (the leader answers a plain heartbeat without a Raft write when
  // it would not). Costs a copy of one group.
  bool WouldChange(const internal::GroupCommand& cmd) const;
  // What applying `cmd` would answer, worked out on a copy of its group; `changes` says whether it would change
  // anything.
  GroupApplied Preview(const internal::GroupCommand& cmd, bool* changes) const;

  // One group's state, serialized deterministically (what a replica persists under the group's key).
  std::string Serialized(const std::string& group) const;
  // Adds or replaces one group from its persisted state (a replica loading its keys). DataLoss if it is corrupt.
  absl::Status Put(std::string_view serialized);
  void Clear() { groups_.clear(); }

  internal::ConsumerGroupState ToProto(const ConsumerGroup& g) const;
  static absl::StatusOr<ConsumerGroup> FromProto(const internal::ConsumerGroupState& s);
  std::string Snapshot() const;
  absl::Status Restore(std::string_view snapshot);

 private:
  GroupApplied Heartbeat(ConsumerGroup& g, const internal::GroupHeartbeat& hb, int64_t now_ms);
  GroupApplied Join(ConsumerGroup& g, const internal::GroupHeartbeat& hb, int64_t now_ms);
  GroupApplied Remove(ConsumerGroup& g, const internal::GroupRemoveMember& rm);
  GroupApplied Commit(ConsumerGroup& g, const internal::GroupCommit& c, int64_t now_ms);
  // Recomputes every member's target when the group epoch moved past the target epoch.
  void UpdateTargets(ConsumerGroup& g);
  // Moves `m` toward its target: asks it to give up what it must, gives it what is free. Sets the answer.
  void Reconcile(ConsumerGroup& g, GroupMember& m, GroupApplied& out);
  void DropMember(ConsumerGroup& g, const std::string& member_id);

  std::map<std::string, ConsumerGroup> groups_;
};

// A partition list as protos carry it; DataLoss when a partition is listed twice.
absl::StatusOr<PartitionSet> ReadPartitionSet(
    const google::protobuf::RepeatedPtrField<internal::TopicPartitions>& in);

// Whether two states hold the same groups (tests; snapshot round trips).
bool SameGroups(const GroupCoordinator& a, const GroupCoordinator& b);

}  // namespace brook::server
