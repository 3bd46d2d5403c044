#include "server/host/host.h"

#include <algorithm>
#include <random>
#include <set>

#include "server/codec/raft_codec.h"
#include "server/common/errors.h"
#include "server/common/log.h"

namespace brook::server {
namespace {

bool IsIn(const std::vector<raft::NodeId>& ids, raft::NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

grpc::Status ShuttingDown() {
  return RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down; retry on another node", 100);
}

// How the disk guard measures free space: the test's function, else statvfs of the data directory, else nothing.
std::function<uint64_t()> DiskMeasure(const HostOptions& o) {
  if (o.disk_reserve_bytes == 0) return nullptr;
  if (o.free_bytes) return o.free_bytes;
  if (o.data_dir.empty()) return nullptr;
  return [dir = o.data_dir] { return DiskGuard::FreeBytesOf(dir); };
}

GroupOptions GroupOptionsOf(const HostOptions& o, std::function<bool(raft::NodeId)> is_cluster_node) {
  GroupOptions g;
  g.is_cluster_node = std::move(is_cluster_node);
  g.self = o.node_id;
  g.election_ticks = o.election_ticks;
  g.heartbeat_ticks = o.heartbeat_ticks;
  g.seed = o.seed;
  g.learner_bytes_per_tick = o.move_bytes_per_sec * static_cast<uint64_t>(o.tick.count()) / 1000;
  if (g.seed == 0) g.seed = (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
  return g;
}

}  // namespace

Host::Host(HostOptions options, storage::Store* store, Network* network, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      network_(network),
      clock_(clock),
      disk_(options_.disk_reserve_bytes, DiskMeasure(options_)),
      groups_(store, GroupOptionsOf(options_, [this](raft::NodeId id) { return IsClusterNode(id); }),
              options_.unsafe_break == UnsafeBreak::kReadPastCommit),
      ctx_{&options_, clock, store, network, &groups_, nullptr, &disk_},
      group_commit_(&ctx_),
      produce_(&ctx_),
      producers_(&ctx_),
      offsets_(&ctx_),
      coordinator_(&ctx_,
                   [this](uint64_t group_id) {
                     auto hints = leader_hints_.Current(clock_->Now());
                     auto it = hints.find(group_id);
                     return it == hints.end()
                                ? std::pair<raft::NodeId, raft::Term>{0, 0}
                                : std::pair<raft::NodeId, raft::Term>{it->second.leader, it->second.term};
                   }),
      topics_(&ctx_),
      maintenance_(&ctx_),
      members_(&ctx_),
      moves_(&ctx_),
      admission_(&ctx_),
      leader_hints_(&ctx_),
      quiescence_(&ctx_),
      loop_(clock, options_.tick,
            [this](std::vector<internal::MessageBatch>& inbox, std::vector<Loop::Task>& tasks, bool tick,
                   Clock::TimePoint now) { Turn(inbox, tasks, tick, now); }) {
  ctx_.node_heard = [this](raft::NodeId id) { return quiescence_.Alive(id, clock_->Now()); };
  cluster_view_ = std::make_shared<ClusterView>();
  member_seen_ = !options_.joined;
}

Host::~Host() { Stop(); }

void Host::set_metrics(HostMetrics* metrics) {
  ctx_.metrics = metrics;
  groups_.set_metrics(metrics);
}

absl::Status Host::Load() {
  // The metadata group first: it says which partitions this node hosts.
  raft::ConfState bootstrap;
  bootstrap.voters = options_.initial_members;
  std::sort(bootstrap.voters.begin(), bootstrap.voters.end());
  if (auto s = groups_.OpenMetadata(bootstrap); !s.ok()) return s;
  MetadataGroup& meta = groups_.metadata();
  meta.set_applied_hook([this](const raft::Entry& e, const MetadataApplied& applied) {
    topics_.OnMetadataApplied(e, applied);
    moves_.OnMetadataApplied(applied);
  });
  meta.set_restored_hook([this] {
    ctx_.cluster_dirty = true;
    topics_.SyncAll();
  });
  metadata_commit_at_start_ = meta.raft().commit_index();
  if (auto s = topics_.OpenHosted(); !s.ok()) return s;
  LogInfo("n", options_.node_id, " loaded ", groups_.size(), " groups (", meta.machine().state().topics_size(),
          " topics); metadata commit index ", metadata_commit_at_start_);
  PublishCluster();
  return absl::OkStatus();
}

absl::Status Host::Start() {
  compaction_ = std::make_unique<CompactionWorker>(store_, /*inline_passes=*/false);
  ctx_.compaction = compaction_.get();
  if (auto s = Load(); !s.ok()) return s;
  loop_.Start();
  return absl::OkStatus();
}

absl::Status Host::StartManual() {
  // Manual turns (tests): a compaction pass runs inside the turn that starts it, deterministically.
  compaction_ = std::make_unique<CompactionWorker>(store_, /*inline_passes=*/true);
  ctx_.compaction = compaction_.get();
  return Load();
}

void Host::Stop() {
  if (!loop_.Stop()) return;
  if (compaction_ != nullptr) compaction_->Stop();  // a running pass ends at its next read
  // The loop has stopped and rejects every later task: this thread owns the groups now. Fail what still waits.
  const grpc::Status stopping = ShuttingDown();
  for (auto& [id, g] : groups_.partitions()) {
    g->FailPending(stopping);
    g->FailTransfers(stopping);
    g->view()->MarkStopped();
  }
  if (groups_.size() > 0) groups_.metadata().FailPending(stopping);
}

std::shared_ptr<const ClusterView> Host::cluster() const {
  std::lock_guard lock(mu_);
  return cluster_view_;
}

void Host::Post(Loop::Task run, std::function<void(const grpc::Status&)> stopped) {
  loop_.Post(std::move(run), [stopped = std::move(stopped)] { stopped(ShuttingDown()); });
}

void Host::Turn(std::vector<internal::MessageBatch>& inbox, std::vector<Loop::Task>& tasks, bool tick,
                Clock::TimePoint now) {
  disk_.Refresh(now);
  for (auto& batch : inbox) {
    quiescence_.Heard(batch.from_node(), now);
    for (auto& gm : *batch.mutable_messages()) Step(gm);
    if (leader_hints_.OnAnnouncement(batch, now)) ctx_.cluster_dirty = true;
    int reports = 0;
    for (const auto& r : batch.move_reports()) {
      if (++reports > kMaxReportsPerBatch) break;
      moves_.OnReport(batch.from_node(), r);
    }
  }
  for (auto& task : tasks) task();
  produce_.Flush();
  if (tick) quiescence_.Tick(now);
  if (group_commit_.Run()) loop_.Wake();
  topics_.CloseDeleted();
  FollowLeadership();
  if (now >= next_retention_) {
    maintenance_.EnforceRetention();
    next_retention_ = now + options_.retention_interval;
  }
  maintenance_.Compact(now);
  maintenance_.BalanceLeaders(now);
  coordinator_.ExpireMembers(now);
  moves_.Run(now);
  admission_.Run(now);
  leader_hints_.Announce(now);
  quiescence_.Beat(now);
  members_.Register(now);
  // Metadata entries and leadership changes mark the view dirty; a conf change of the metadata group moves its
  // applied index; announced hints expire (kTtl), so a view holding any is rebuilt once a second.
  if (ctx_.cluster_dirty || groups_.metadata().applied() != published_applied_ ||
      (leader_hints_.any() && now >= next_publish_)) {
    PublishCluster();
    next_publish_ = now + std::chrono::seconds(1);
  }
  if (options_.quiesce_idle_groups) groups_.SleepIdle();
}

void Host::Step(internal::GroupMessage& gm) {
  Group* g = groups_.Find(gm.group_id());
  if (g == nullptr) return;  // not (yet, or no longer) hosted here: Raft retries
  raft::Message m = FromProto(std::move(*gm.mutable_message()));  // the batch is this turn's: take its bytes
  if (!g->Accepts(m)) return;
  groups_.Wake(*g);  // a quiet core answers some messages without waking (RaftNode::QuietMessage)
  if (ctx_.draining && m.type == raft::MessageType::kTimeoutNow) return;  // stopping: take no leadership back
  if (disk_.critical() && m.type == raft::MessageType::kAppend && !m.entries.empty() &&
      g->id() != kMetadataGroupId) {
    disk_.CountDroppedAppend();  // nearly no space left: do not append (the leader resends once space returns)
    return;
  }
  // A message the core refuses is counted by it (raft::RaftNode::dropped, exported as metrics), not logged: late
  // answers after an election are routine, and a flood of forged ones must not flood the log.
  (void)g->raft().Step(m);
}

bool Host::Removed() {
  const MetadataGroup& meta = groups_.metadata();
  auto rec = meta.machine().state().nodes().find(options_.node_id);
  if (rec != meta.machine().state().nodes().end() && rec->second.state() == v1::NODE_REMOVED) return true;
  const auto& conf = meta.raft().conf();
  const bool member = IsIn(conf.voters, options_.node_id) || IsIn(conf.learners, options_.node_id);
  // A joining node hears the leader's snapshot before the change that adds it: absent from a configuration it was
  // never in, it is not removed.
  member_seen_ |= member;
  return member_seen_ && !conf.voters.empty() && !member;
}

bool Host::IsClusterNode(raft::NodeId id) const {
  const auto& members = options_.initial_members;
  if (std::find(members.begin(), members.end(), id) != members.end()) return true;
  if (groups_.size() == 0) return false;
  const MetadataGroup& meta = groups_.metadata();
  const auto& conf = meta.raft().conf();
  // A joined node before the leader's first snapshot knows no member: it hears the one that adds it.
  if (conf.voters.empty()) return true;
  if (IsIn(conf.voters, id) || IsIn(conf.learners, id)) return true;
  auto rec = meta.machine().state().nodes().find(id);
  return rec != meta.machine().state().nodes().end() && rec->second.state() != v1::NODE_REMOVED;
}

void Host::FollowLeadership() {
  // Sleeping groups' leadership cannot change: they are counted as they fell asleep.
  size_t led = groups_.asleep_leading();
  groups_.ForEachAwake([&](Group& g) {
    g.NoteLeadership();
    // Only groups whose leadership could move (another voter exists) count: shutdown waits for these.
    if (g.was_leader() && g.raft().conf().voters.size() > 1) ++led;
    if (g.id() != kMetadataGroupId) maintenance_.CheckTransfers(static_cast<PartitionGroup&>(g));
  });
  led_groups_.store(static_cast<int>(led), std::memory_order_relaxed);
  const MetadataGroup& meta = groups_.metadata();
  if (meta.raft().leader() != cluster_view_->controller || meta.raft().term() != cluster_view_->controller_term) {
    ctx_.cluster_dirty = true;
  }
  if (!removed_ && Removed()) {
    removed_ = true;
    removed_flag_.store(true, std::memory_order_release);
    ready_.store(false, std::memory_order_release);
    LogWarning("n", options_.node_id, " this node was removed from the cluster (decommissioned): it holds no ",
               "replica and takes no requests; stop it");
  }
  if (!removed_ && !ready_.load(std::memory_order_relaxed) && meta.raft().leader() != 0 &&
      meta.applied() >= metadata_commit_at_start_ && !network_->refused() && members_.SelfRegistered() &&
      !admission_.Joining()) {
    ready_.store(true, std::memory_order_release);
    LogInfo("n", options_.node_id, " ready: metadata applied to ", meta.applied(), ", controller n",
            meta.raft().leader());
  }
}

void Host::PublishCluster() {
  auto view = std::make_shared<ClusterView>();
  const MetadataGroup& meta = groups_.metadata();
  view->metadata = meta.machine().state();
  view->controller = meta.raft().leader();
  view->controller_term = meta.raft().term();
  std::set<raft::NodeId> nodes(meta.raft().conf().voters.begin(), meta.raft().conf().voters.end());
  nodes.insert(meta.raft().conf().learners.begin(), meta.raft().conf().learners.end());
  for (const auto& [id, node] : view->metadata.nodes()) nodes.insert(id);
  view->nodes.assign(nodes.begin(), nodes.end());
  for (const auto& [id, node] : view->metadata.nodes()) {
    view->client_addresses[id] = node.client_address();
    if (!node.metrics_address().empty()) view->metrics_addresses[id] = node.metrics_address();
  }
  for (const auto& [id, g] : groups_.partitions()) view->partitions[{g->topic(), g->partition()}] = g->view();
  for (const auto& [group, hint] : leader_hints_.Current(clock_->Now())) {
    view->leader_hints[group] = {hint.leader, hint.term};
  }
  {
    std::lock_guard lock(mu_);
    cluster_view_ = std::move(view);
  }
  ctx_.cluster_dirty = false;
  published_applied_ = meta.applied();
}

// ---- Operations: each posts one call of a handler -------------------------------------------------------------

void Host::Produce(ProduceArgs args, std::string entry_data, ProduceDone done) {
  Post([this, args = std::move(args), data = std::move(entry_data),
        done]() mutable { produce_.Produce(std::move(args), std::move(data), std::move(done)); },
       [done](const grpc::Status& s) { done(s, {}); });
}

void Host::InitProducer(const std::string& name,
                        std::function<void(grpc::Status, v1::InitProducerResponse)> done) {
  Post([this, name, done] { producers_.Init(name, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::CreateTopic(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, req, done] { topics_.Create(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::AddPartitions(const v1::AddPartitionsRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, req, done] { topics_.AddPartitions(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::MoveReplicas(const v1::MoveReplicasRequest& req,
                        std::function<void(grpc::Status, v1::MoveReplicasResponse)> done) {
  Post([this, req, done] { moves_.Move(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::CancelMove(const v1::CancelMoveRequest& req,
                      std::function<void(grpc::Status, v1::CancelMoveResponse)> done) {
  Post([this, req, done] { moves_.Cancel(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::DecommissionNode(const v1::DecommissionNodeRequest& req,
                            std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done) {
  Post([this, req, done] { moves_.Decommission(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::Join(const internal::JoinRequest& req, std::function<void(grpc::Status, internal::JoinResponse)> done) {
  Post([this, req, done] { admission_.Join(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::ListOperations(std::function<void(grpc::Status, v1::ListOperationsResponse)> done) {
  Post([this, done] { moves_.List(done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::AlterTopic(const v1::AlterTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, req, done] { topics_.Alter(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::DeleteTopic(const std::string& name, std::function<void(grpc::Status)> done) {
  Post([this, name, done] { topics_.Delete(name, done); }, done);
}

void Host::DescribeTopic(const std::string& name, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, name, done] { topics_.Describe(name, *cluster(), done); },
       [done](const grpc::Status& s) { done(s, {}); });
}

void Host::TransferLeadership(const v1::TransferLeadershipRequest& req,
                              std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done) {
  Post([this, req, done] { maintenance_.TransferLeadership(req, done); },
       [done](const grpc::Status& s) { done(s, {}); });
}

void Host::CommitOffsets(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done) {
  // A member's commit goes to the group's coordinator (fenced); a plain one to the partition's own store (A3).
  if (!req.member_id().empty()) return Post([this, req, done] { coordinator_.Commit(req, done); }, done);
  Post([this, req, done] { offsets_.Commit(req, done); }, done);
}

void Host::FetchOffsets(const v1::FetchOffsetsRequest& req,
                        std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done) {
  Post([this, req, done] { offsets_.Fetch(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::GroupHeartbeat(const v1::HeartbeatRequest& req,
                          std::function<void(grpc::Status, v1::HeartbeatResponse)> done) {
  Post([this, req, done] { coordinator_.Heartbeat(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::DescribeGroup(const v1::DescribeGroupRequest& req,
                         std::function<void(grpc::Status, v1::DescribeGroupResponse)> done) {
  Post([this, req, done] { coordinator_.Describe(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::ListGroups(const v1::ListGroupsRequest& req,
                      std::function<void(grpc::Status, v1::ListGroupsResponse)> done) {
  Post([this, req, done] { coordinator_.List(req, done); }, [done](const grpc::Status& s) { done(s, {}); });
}

void Host::DeleteGroup(const v1::DeleteGroupRequest& req, std::function<void(grpc::Status)> done) {
  Post([this, req, done] { coordinator_.Delete(req, done); }, done);
}

void Host::ResetGroupOffsets(const v1::ResetOffsetsRequest& req, std::function<void(grpc::Status)> done) {
  Post([this, req, done] { coordinator_.ResetOffsets(req, done); }, done);
}

void Host::SetLeaderBalancer(bool paused, std::function<void(grpc::Status, v1::SetLeaderBalancerResponse)> done) {
  Post([this, paused, done] { maintenance_.SetLeaderBalancer(paused, done); },
       [done](const grpc::Status& s) { done(s, {}); });
}

void Host::ProposeAccess(const internal::MetadataCommand& cmd, std::function<void(grpc::Status)> done) {
  Post(
      [this, cmd, done] {
        ctx_.ProposeMetadata(cmd, [done](const grpc::Status& s, const MetadataApplied* applied) {
          if (s.ok() && applied != nullptr && !applied->status.ok()) return done(ToGrpc(applied->status));
          done(s);
        });
      },
      done);
}

void Host::TransferAllLeadership() {
  Post([this] { maintenance_.TransferAllLeadership(); }, [](const grpc::Status&) {});
}

void Host::CollectStats(bool per_partition, std::function<void(StatsSample)> done) {
  Post([this, per_partition, done] { done(server::CollectStats(ctx_, per_partition)); },
       [](const grpc::Status&) {});
}

}  // namespace brook::server
