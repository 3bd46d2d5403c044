// Topics and the metadata group (docs/decisions.md D5): CreateTopic, AlterTopic and DeleteTopic are validated by
// the controller (the metadata leader) and proposed to the metadata group; every node applies them and starts or
// stops hosting the partition groups it is a replica of. DescribeTopic adds live partition state.
//
// Loop thread only (Host posts to it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "brook/v1/admin.pb.h"
#include "server/host/context.h"
#include "server/host/views.h"

namespace brook::server {

class TopicsHandler {
 public:
  explicit TopicsHandler(HostContext* ctx) : ctx_(ctx) {}

  // Opens the partition groups of every stored topic that this node is a replica of (at start).
  absl::Status OpenHosted();

  void Create(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  void Delete(const std::string& name, std::function<void(grpc::Status)> done);
  // Checks the change against the topic's config as it stands, then proposes it (the merge happens at apply).
  void Alter(const v1::AlterTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  // Places `partition_count - current` new partitions as CreateTopic would, then proposes them.
  void AddPartitions(const v1::AddPartitionsRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  // Fills each partition's live state (leader, caught-up replicas, offsets) of a topic.
  // Partitions hosted elsewhere get their leader from `cluster`'s leader hints (leader_hints.h).
  void Describe(const std::string& name, const ClusterView& cluster,
                std::function<void(grpc::Status, v1::Topic)> done);

  // The metadata group applied an entry: open the groups of a created topic placed here (the preferred leader
  // campaigns at once), and schedule the groups of a deleted topic to close at the end of the turn.
  void OnMetadataApplied(const raft::Entry& entry, const MetadataApplied& applied);
  // The metadata state was replaced by a snapshot: open every partition placed here that is not open, and close
  // every open one that is no longer placed here.
  void SyncAll();
  // Closes the groups of deleted topics (after the turn's Ready cycle, never inside it).
  void CloseDeleted();

 private:
  // Opens the groups of `topic`'s partitions that have this node as a replica.
  void OpenReplicas(const internal::TopicRecord& topic, bool campaign_preferred);
  // `topic`'s placement changed: open the replicas placed here, close those that moved off.
  void Place(const internal::TopicRecord& topic);
  void DescribePartition(const internal::PartitionAssignment& p, const ClusterView& cluster,
                         v1::PartitionInfo* info);

  HostContext* const ctx_;
  std::vector<std::pair<raft::GroupId, bool>> to_close_;  // group, moved (else deleted)
};

}  // namespace brook::server
