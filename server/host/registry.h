// The groups this node hosts: the metadata group (group 0, on every node) and the partition groups placed here.
// Creates, finds and removes groups; nothing else (what a group does lives in the groups and the handlers).
//
// Loop thread only. Cost of opening a group: a few storage reads (hard state, apply state, state keys).
#pragma once

#include <map>
#include <memory>
#include <string>

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

  void set_metrics(HostMetrics* metrics) { metrics_ = metrics; }

 private:
  storage::Store* const store_;
  const GroupOptions options_;
  const bool read_past_commit_;
  HostMetrics* metrics_ = nullptr;
  std::unique_ptr<MetadataGroup> metadata_;
  std::map<raft::GroupId, std::unique_ptr<PartitionGroup>> partitions_;
};

}  // namespace brook::server
