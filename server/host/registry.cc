#include "server/host/registry.h"

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/common/log.h"

namespace brook::server {

GroupRegistry::GroupRegistry(storage::Store* store, GroupOptions options, bool read_past_commit)
    : store_(store), options_(options), read_past_commit_(read_past_commit) {}

absl::Status GroupRegistry::OpenMetadata(const raft::ConfState& bootstrap) {
  auto group = std::make_unique<MetadataGroup>(
      kMetadataGroupId, "", 0,
      RetryLater(grpc::StatusCode::UNAVAILABLE, "leadership changed before the change committed; retry", 100));
  if (auto s = group->Open(store_, options_, bootstrap); !s.ok()) return s;
  metadata_ = std::move(group);
  return absl::OkStatus();
}

absl::StatusOr<PartitionGroup*> GroupRegistry::OpenPartition(const internal::TopicRecord& topic,
                                                             uint32_t partition,
                                                             const raft::ConfState& bootstrap) {
  const raft::GroupId id = topic.partitions(static_cast<int>(partition)).group_id();
  if (PartitionGroup* existing = FindPartition(id)) return existing;
  auto group =
      std::make_unique<PartitionGroup>(id, topic.name(), partition, topic.topic_id(), store_, read_past_commit_);
  if (auto s = group->Open(store_, options_, bootstrap); !s.ok()) return s;
  group->set_applied_hook([this, id](const raft::Entry&, const PartitionApplied& applied) {
    if (metrics_ != nullptr && applied.records) metrics_->ObserveApplied(id, applied);
  });
  PartitionGroup* out = group.get();
  partitions_[id] = std::move(group);
  out->Publish();
  return out;
}

void GroupRegistry::ClosePartition(raft::GroupId id, bool drop_data, bool moved) {
  auto it = partitions_.find(id);
  if (it == partitions_.end()) return;
  PartitionGroup& g = *it->second;
  if (moved) {
    const grpc::Status why = NotLeaderStatus(g.topic(), g.partition(), 0, "", 0);
    g.FailPending(why);
    g.FailTransfers(why);
    g.view()->MarkMoved();
  } else {
    g.FailPending(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", g.topic(), "' was deleted")));
    g.FailTransfers(grpc::Status(grpc::StatusCode::NOT_FOUND, "topic was deleted"));
    g.view()->MarkDeleted();
  }
  partitions_.erase(it);
  if (drop_data) {
    if (auto s = store_->DropGroup(id); !s.ok()) {
      LogError("n", options_.self, " g", id, " cannot drop data: ", s.message());
    }
  }
}

Group* GroupRegistry::Find(raft::GroupId id) {
  if (id == kMetadataGroupId) return metadata_.get();
  return FindPartition(id);
}

PartitionGroup* GroupRegistry::FindPartition(raft::GroupId id) {
  auto it = partitions_.find(id);
  return it == partitions_.end() ? nullptr : it->second.get();
}

PartitionGroup* GroupRegistry::FindPartition(const std::string& topic, uint32_t partition) {
  const auto& topics = metadata_->machine().state().topics();
  auto t = topics.find(topic);
  if (t == topics.end() || partition >= static_cast<uint32_t>(t->second.partitions_size())) return nullptr;
  return FindPartition(t->second.partitions(static_cast<int>(partition)).group_id());
}

}  // namespace brook::server
