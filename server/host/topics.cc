#include "server/host/topics.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/common/limits.h"
#include "server/common/log.h"
#include "server/common/topic_config.h"

namespace brook::server {
namespace {

bool Has(const google::protobuf::RepeatedField<uint64_t>& ids, raft::NodeId node) {
  return std::find(ids.begin(), ids.end(), node) != ids.end();
}

// A replica now or the target of a running move.
bool IsReplica(const internal::PartitionAssignment& p, raft::NodeId node) {
  return Has(p.replicas(), node) || Has(p.target_replicas(), node);
}

// The membership a replica with no state of its own starts from: the voters the partition was created with, for
// one of them; nothing (wait for the leader's snapshot) for a node a move added, or once any move completed.
raft::ConfState BootstrapOf(const internal::PartitionAssignment& p, raft::NodeId node) {
  raft::ConfState conf;
  if (Has(p.replicas(), node) && !p.moved()) conf.voters.assign(p.replicas().begin(), p.replicas().end());
  return conf;
}

}  // namespace

absl::Status TopicsHandler::OpenHosted() {
  const internal::MetadataState& meta = ctx_->groups->metadata().machine().state();
  std::set<raft::GroupId> hosted;
  for (const auto& [name, topic] : meta.topics()) {
    for (const auto& p : topic.partitions()) {
      if (!IsReplica(p, ctx_->self())) continue;
      auto g = ctx_->groups->OpenPartition(topic, p.partition(), BootstrapOf(p, ctx_->self()));
      if (!g.ok()) return g.status();
      hosted.insert(p.group_id());
    }
  }
  // What this node stored for a partition it no longer holds (the topic was deleted, or the replica moved off,
  // while the node was down): the metadata state only moves forward, so it will not hold it again under this id.
  for (raft::GroupId id : ctx_->store->ListGroups()) {
    if (id == kMetadataGroupId || hosted.contains(id) || id >= meta.next_group_id()) continue;
    LogInfo("n", ctx_->self(), " g", id, ": no longer a replica here; deleting its data");
    if (auto s = ctx_->store->DropGroup(id); !s.ok()) return s;
  }
  ctx_->cluster_dirty = true;
  return absl::OkStatus();
}

void TopicsHandler::OpenReplicas(const internal::TopicRecord& topic, bool campaign_preferred) {
  for (const auto& p : topic.partitions()) {
    if (!IsReplica(p, ctx_->self())) continue;
    auto g = ctx_->groups->OpenPartition(topic, p.partition(), BootstrapOf(p, ctx_->self()));
    if (!g.ok()) {
      LogError("n", ctx_->self(), " cannot open g", p.group_id(), ": ", g.status().message());
      continue;
    }
    ctx_->cluster_dirty = true;
    // The preferred leader campaigns at once, so leaders land where placement put them.
    if (campaign_preferred && p.replicas(0) == ctx_->self() && (*g)->raft().term() == 0) (*g)->raft().Campaign();
  }
}

void TopicsHandler::OnMetadataApplied(const raft::Entry& entry, const MetadataApplied& applied) {
  if (entry.type != raft::EntryType::kNormal) return;
  ctx_->cluster_dirty = true;
  if (!applied.status.ok()) return;
  if (applied.created.partitions_size() > 0) {
    OpenReplicas(applied.created, true);
    LogInfo("n", ctx_->self(), " topic '", applied.created.name(), "' created with ",
            applied.created.partitions_size(), " partitions");
  }
  if (applied.altered.partitions_size() > 0) {
    const auto& c = applied.altered.config();
    LogInfo("n", ctx_->self(), " topic '", applied.altered.name(), "' altered: retention_ms ", c.retention_ms(),
            ", retention_bytes ", c.retention_bytes(), ", tombstone_retention_ms ", c.tombstone_retention_ms(),
            ", min_compaction_lag_ms ", c.min_compaction_lag_ms());
  }
  if (applied.placed.partitions_size() > 0) Place(applied.placed);
  for (const auto& t : applied.placed_all) Place(t);
  if (applied.deleted.partitions_size() > 0) {
    for (const auto& p : applied.deleted.partitions()) {
      if (ctx_->groups->FindPartition(p.group_id()) != nullptr) to_close_.push_back({p.group_id(), false});
    }
    LogInfo("n", ctx_->self(), " topic '", applied.deleted.name(), "' deleted");
  }
}

void TopicsHandler::Place(const internal::TopicRecord& topic) {
  OpenReplicas(topic, true);
  for (const auto& p : topic.partitions()) {
    if (!IsReplica(p, ctx_->self()) && ctx_->groups->FindPartition(p.group_id()) != nullptr) {
      to_close_.push_back({p.group_id(), true});
    }
  }
}

void TopicsHandler::SyncAll() {
  const internal::MetadataState& meta = ctx_->groups->metadata().machine().state();
  std::set<raft::GroupId> placed;
  for (const auto& [name, topic] : meta.topics()) {
    OpenReplicas(topic, false);
    for (const auto& p : topic.partitions()) {
      if (IsReplica(p, ctx_->self())) placed.insert(p.group_id());
    }
  }
  for (const auto& [id, g] : ctx_->groups->partitions()) {
    if (!placed.contains(id)) to_close_.push_back({id, meta.topics().contains(g->topic())});
  }
  ctx_->cluster_dirty = true;
}

void TopicsHandler::CloseDeleted() {
  for (auto [id, moved] : to_close_) {
    if (moved) LogInfo("n", ctx_->self(), " g", id, ": the replica moved off this node; deleting its data");
    ctx_->groups->ClosePartition(id, true, moved);
    ctx_->cluster_dirty = true;
  }
  to_close_.clear();
}

void TopicsHandler::Create(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  if (meta.machine().state().topics().contains(req.name())) {
    return done(
        grpc::Status(grpc::StatusCode::ALREADY_EXISTS, absl::StrCat("topic '", req.name(), "' already exists")),
        {});
  }
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  if (auto s = meta.machine().CheckClusterLimits(static_cast<int>(req.partitions())); !s.ok()) {
    return done(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(s.message()), 60'000), {});
  }
  const std::vector<raft::NodeId> nodes = ctx_->ActiveMembers();
  const uint32_t rf = req.replication_factor() == 0 ? std::min<uint32_t>(3, static_cast<uint32_t>(nodes.size()))
                                                    : req.replication_factor();
  if (rf > nodes.size()) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             absl::StrCat("replication_factor ", rf, " exceeds the cluster's ", nodes.size(),
                                          " nodes; use at most ", nodes.size())),
                {});
  }
  internal::MetadataCommand cmd;
  *cmd.mutable_create_topic()->mutable_topic() =
      MetadataMachine::Place(req, rf, nodes, meta.machine().state(), ctx_->NowMs());
  ctx_->ProposeMetadata(cmd, [done](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    done(grpc::Status::OK, TopicToApi(m->created));
  });
}

void TopicsHandler::Delete(const std::string& name, std::function<void(grpc::Status)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s);
  auto it = meta.machine().state().topics().find(name);
  if (it == meta.machine().state().topics().end()) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")));
  }
  internal::MetadataCommand cmd;
  cmd.mutable_delete_topic()->set_name(name);
  cmd.mutable_delete_topic()->set_topic_id(it->second.topic_id());
  ctx_->ProposeMetadata(cmd, [done](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s);
    done(ToGrpc(m->status));
  });
}

void TopicsHandler::Alter(const v1::AlterTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  const auto& topics = meta.machine().state().topics();
  auto it = topics.find(req.name());
  if (it == topics.end() || (req.expected_topic_id() != 0 && it->second.topic_id() != req.expected_topic_id())) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND,
                             it == topics.end()
                                 ? absl::StrCat("topic '", req.name(), "' does not exist")
                                 : absl::StrCat("topic '", req.name(), "' is incarnation ", it->second.topic_id(),
                                                ", not expected_topic_id ", req.expected_topic_id())),
                {});
  }
  v1::TopicConfig merged;
  if (auto s = AlterTopicConfig(it->second.config(), req.set(), req.config(), &merged); !s.ok())
    return done(s, {});
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  internal::MetadataCommand cmd;
  auto* alter = cmd.mutable_alter_topic();
  alter->set_name(req.name());
  alter->set_topic_id(it->second.topic_id());
  *alter->mutable_set() = req.set();
  *alter->mutable_config() = req.config();
  ctx_->ProposeMetadata(cmd, [done](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    done(grpc::Status::OK, TopicToApi(m->altered));
  });
}

void TopicsHandler::AddPartitions(const v1::AddPartitionsRequest& req,
                                  std::function<void(grpc::Status, v1::Topic)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  const auto& topics = meta.machine().state().topics();
  auto it = topics.find(req.topic());
  if (it == topics.end() || (req.expected_topic_id() != 0 && it->second.topic_id() != req.expected_topic_id())) {
    return done(
        grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", req.topic(), "' does not exist")), {});
  }
  const auto current = static_cast<uint32_t>(it->second.partitions_size());
  if (req.partition_count() <= current || req.partition_count() > Limits::kMaxPartitionsPerTopic) {
    return done(InvalidField("partition_count",
                             absl::StrCat("topic '", req.topic(), "' has ", current,
                                          " partitions; partition_count must be above that and at most ",
                                          Limits::kMaxPartitionsPerTopic, " (max_partitions_per_topic)")),
                {});
  }
  if (auto s = meta.machine().CheckClusterLimits(static_cast<int>(req.partition_count() - current)); !s.ok()) {
    return done(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(s.message()), 60'000), {});
  }
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  v1::CreateTopicRequest shape;
  shape.set_name(req.topic());
  shape.set_partitions(req.partition_count() - current);
  const internal::TopicRecord placed = MetadataMachine::Place(
      shape, it->second.replication_factor(), ctx_->ActiveMembers(), meta.machine().state(), ctx_->NowMs());
  internal::MetadataCommand cmd;
  auto* add = cmd.mutable_add_partitions();
  add->set_topic(req.topic());
  add->set_topic_id(it->second.topic_id());
  *add->mutable_partitions() = placed.partitions();
  ctx_->ProposeMetadata(cmd, [done](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    done(grpc::Status::OK, TopicToApi(m->placed));
  });
}

void TopicsHandler::Describe(const std::string& name, const ClusterView& cluster,
                             std::function<void(grpc::Status, v1::Topic)> done) {
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  auto it = topics.find(name);
  if (it == topics.end()) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")), {});
  }
  v1::Topic topic = TopicToApi(it->second);
  for (const auto& p : it->second.partitions()) DescribePartition(p, cluster, topic.add_partitions());
  done(grpc::Status::OK, std::move(topic));
}

void TopicsHandler::DescribePartition(const internal::PartitionAssignment& p, const ClusterView& cluster,
                                      v1::PartitionInfo* info) {
  info->set_partition(p.partition());
  info->set_group_id(p.group_id());
  for (auto r : p.replicas()) info->add_replicas(r);
  *info->mutable_target_replicas() = p.target_replicas();
  PartitionGroup* g = ctx_->groups->FindPartition(p.group_id());
  if (g == nullptr) {
    // Hosted elsewhere: its leader as announced (leader_hints.h).
    const auto [leader, term] = cluster.HintedLeader(p.group_id());
    info->set_leader_id(leader);
    info->set_leader_term(term);
    return;
  }
  info->set_leader_id(g->view()->leader());  // as GetMetadata says
  info->set_leader_term(g->raft().term());
  info->set_high_watermark(g->machine().end_offset());
  info->set_log_start_offset(ctx_->store->Bounds(g->id()).log_start_offset);
  if (g->raft().role() != raft::Role::kLeader) return;
  const raft::Index commit = g->raft().commit_index();
  for (const auto& pr : g->raft().progress()) {
    if (!pr.learner && ctx_->Heard(pr) && pr.match >= commit) info->add_caught_up_replicas(pr.id);
  }
}

}  // namespace brook::server
