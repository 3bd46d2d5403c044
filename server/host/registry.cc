#include "server/host/registry.h"

#include <algorithm>

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
  Track(*metadata_);
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
  Track(*out);
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
  Untrack(g);
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

namespace {

bool ById(const Group* a, const Group* b) { return a->id() < b->id(); }

}  // namespace

void GroupRegistry::Track(Group& g) {
  g.raft().set_wake_hook([this, &g] { Wake(g); });
  g.asleep = true;  // joins awake_ through woken_, in id order
  ++asleep_;
  Wake(g);
}

void GroupRegistry::Untrack(Group& g) {
  g.raft().set_wake_hook(nullptr);
  std::erase(awake_, &g);
  std::erase(woken_, &g);
  if (g.asleep) --asleep_;
  if (g.asleep_leading) --asleep_leading_;
}

void GroupRegistry::Wake(Group& g) {
  if (!g.asleep) return;
  g.asleep = false;
  --asleep_;
  if (g.asleep_leading) {
    g.asleep_leading = false;
    --asleep_leading_;
  }
  woken_.push_back(&g);
}

void GroupRegistry::MergeWoken() {
  if (woken_.empty()) return;
  for (Group* g : woken_) awake_.insert(std::lower_bound(awake_.begin(), awake_.end(), g, ById), g);
  woken_.clear();
}

void GroupRegistry::SleepIdle() {
  MergeWoken();
  std::erase_if(awake_, [this](Group* g) {
    if (!g->Idle()) return false;
    g->asleep = true;
    ++asleep_;
    g->asleep_leading = g->was_leader() && g->raft().conf().voters.size() > 1;
    if (g->asleep_leading) ++asleep_leading_;
    return true;
  });
}

}  // namespace brook::server
