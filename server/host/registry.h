// The groups this node hosts: the metadata group (group 0, on every node) and the partition groups placed here.
// Creates, finds and removes groups; nothing else (what a group does lives in the groups and the handlers).
//
// Loop thread only. Cost of opening a group: a few storage reads (hard state, apply state, state keys).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/internal/state.pb.h"
#include "server/host/host_metrics.h"
#include "server/host/machine_group.h"
#include "server/host/partition_group.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {

using MetadataGroup = MachineGroup<MetadataMachine>;
inline constexpr raft::GroupId kMetadataGroupId = 0;

class GroupRegistry {
 public:
  // `read_past_commit`: brookd --unsafe_break=read_past_commit (tests only).
  GroupRegistry(storage::Store* store, GroupOptions options, bool read_past_commit);

  // Opens the metadata group; `bootstrap` are its voters if this node starts the cluster.
  absl::Status OpenMetadata(const raft::ConfState& bootstrap);
  // Opens the group of `topic`'s partition (or returns it, if hosted already).
  absl::StatusOr<PartitionGroup*> OpenPartition(const internal::TopicRecord& topic, uint32_t partition,
                                                const raft::ConfState& bootstrap);
  // Stops hosting a partition group of a deleted topic: fails what waits on it, marks its view deleted, and with
  // `drop_data` removes everything it stored.
  // `moved`: the replica moved off this node (its waiters and readers are sent elsewhere), else the topic was
  // deleted.
  void ClosePartition(raft::GroupId id, bool drop_data, bool moved = false);

  MetadataGroup& metadata() { return *metadata_; }
  const MetadataGroup& metadata() const { return *metadata_; }
  // Any hosted group by id (the metadata group too), or nullptr.
  Group* Find(raft::GroupId id);
  PartitionGroup* FindPartition(raft::GroupId id);
  // The hosted group of a topic's partition as the metadata names it, or nullptr.
  PartitionGroup* FindPartition(const std::string& topic, uint32_t partition);
  const std::map<raft::GroupId, std::unique_ptr<PartitionGroup>>& partitions() const { return partitions_; }
  size_t size() const { return partitions_.size() + (metadata_ ? 1 : 0); }

  // Calls fn(Group&) for every group: the metadata group first, then partitions by id.
  template <typename Fn>
  void ForEach(Fn&& fn) {
    if (metadata_) fn(static_cast<Group&>(*metadata_));
    for (auto& [id, g] : partitions_) fn(static_cast<Group&>(*g));
  }

  // ---- Sleep (docs/decisions.md A22) ------------------------------------------------------------------------
  // The loop's per-turn walks (ticks, Ready collection, leadership) visit only the groups awake: an idle quiet
  // group (Group::Idle) is put to sleep at the end of a turn and woken by a message to it (the host's Step calls
  // Wake) or by its core waking (RaftNode::set_wake_hook, set for every group opened here). So the idle cost of a
  // turn follows the busy groups, not all of them.
  //
  // Calls fn(Group&) for every group awake, in the order of ForEach. fn may wake groups (they join the next walk)
  // but must not open or close any.
  template <typename Fn>
  void ForEachAwake(Fn&& fn) {
    MergeWoken();
    for (Group* g : awake_) fn(*g);
  }
  // Puts the awake groups that are Idle to sleep. Call at the end of a turn.
  void SleepIdle();
  // Wakes a sleeping group (no-op if awake).
  void Wake(Group& g);
  size_t asleep() const { return asleep_; }
  // Sleeping groups this node led when they fell asleep (a sleeping group's leadership cannot change).
  size_t asleep_leading() const { return asleep_leading_; }

  void set_metrics(HostMetrics* metrics) { metrics_ = metrics; }

 private:
  storage::Store* const store_;
  const GroupOptions options_;
  const bool read_past_commit_;
  HostMetrics* metrics_ = nullptr;
  std::unique_ptr<MetadataGroup> metadata_;
  std::map<raft::GroupId, std::unique_ptr<PartitionGroup>> partitions_;

  // Adds a new group to the awake ones and sets its core's wake hook.
  void Track(Group& g);
  void Untrack(Group& g);
  void MergeWoken();
  std::vector<Group*> awake_;  // by id (the metadata group, id 0, first)
  std::vector<Group*> woken_;  // woken since the last walk, not yet in awake_
  size_t asleep_ = 0;
  size_t asleep_leading_ = 0;
};

}  // namespace brook::server
