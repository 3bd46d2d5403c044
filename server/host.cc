#include "server/host.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/entry_codec.h"
#include "server/errors.h"
#include "server/host_metrics.h"
#include "server/log.h"
#include "server/raft_codec.h"

namespace brook::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr raft::GroupId kMetadataGroup = 0;
// Bound of entry bytes a storage read hands the Raft core at once.
constexpr uint64_t kMaxCommittedRead = 64 << 20;

}  // namespace

// The durable log of one group as the Raft core sees it: storage reads plus the state machine's snapshot bytes.
class GroupLogReader final : public raft::LogReader {
 public:
  GroupLogReader(storage::Store* store, raft::GroupId group, std::function<std::string()> snapshot_data)
      : store_(store), group_(group), snapshot_data_(std::move(snapshot_data)) {}

  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi,
                                                   uint64_t max_bytes) const override {
    if (lo < store_->FirstIndex(group_)) {
      return absl::FailedPreconditionError(absl::StrCat("g", group_, " index ", lo, " is compacted"));
    }
    return store_->Entries(group_, lo, hi, max_bytes);
  }
  absl::StatusOr<raft::Term> TermAt(raft::Index i) const override {
    auto bounds = store_->Bounds(group_);
    if (i + 1 < bounds.first_index) {
      return absl::FailedPreconditionError(absl::StrCat("g", group_, " index ", i, " is compacted"));
    }
    return store_->Term(group_, i);
  }
  raft::Index FirstIndex() const override { return store_->FirstIndex(group_); }
  raft::Index LastIndex() const override { return store_->LastIndex(group_); }
  raft::SnapshotMeta Snapshot() const override { return store_->GetSnapshotMeta(group_); }
  std::string SnapshotData() const override { return snapshot_data_ ? snapshot_data_() : std::string(); }

 private:
  storage::Store* store_;
  raft::GroupId group_;
  std::function<std::string()> snapshot_data_;
};

struct Host::Slot {
  raft::GroupId id = 0;
  bool is_metadata = false;
  std::string topic;
  uint32_t partition = 0;
  uint64_t topic_id = 0;
  std::unique_ptr<GroupLogReader> reader;
  std::unique_ptr<raft::RaftNode> raft;
  std::unique_ptr<PartitionMachine> machine;  // partitions only
  std::shared_ptr<PartitionView> view;        // partitions only
  raft::Index applied = 0;
  // Leadership bookkeeping. barrier: the leader's last index when it took office (its no-op); it serves
  // proposals only once applied >= barrier, i.e. once every entry of earlier terms is applied (see
  // partition_machine.h for why idempotence needs this).
  raft::Term leader_term = 0;
  raft::Index barrier = 0;
  bool was_leader = false;
  int64_t last_append_time = 0;
  std::map<raft::Index, std::vector<PendingOp>> pending;
  struct Transfer {
    raft::NodeId target;
    Clock::time_point deadline;
    std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done;
  };
  std::vector<Transfer> transfers;
  std::optional<storage::GroupWrite> init_write;
  // Apply failed (corrupt entry): the group stops applying; reads stay at the old watermark.
  bool broken = false;
  // Metrics counters.
  raft::Role last_role = raft::Role::kFollower;
  raft::NodeId last_leader = 0;
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t leader_changes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t truncations = 0;  // log prefixes dropped by retention
};

Host::Host(HostOptions options, storage::Store* store, Transport* transport)
    : options_(std::move(options)), store_(store), transport_(transport) {
  cluster_view_ = std::make_shared<ClusterView>();
}

Host::~Host() { Stop(); }

int64_t Host::NowMs() const { return absl::ToUnixMillis(absl::Now()); }

absl::Status Host::Start() {
  // The metadata group first: it says which partitions this node hosts.
  raft::ConfState bootstrap;
  bootstrap.voters = options_.initial_members;
  std::sort(bootstrap.voters.begin(), bootstrap.voters.end());
  auto meta_slot = OpenGroup(kMetadataGroup, bootstrap, nullptr, 0);
  if (!meta_slot.ok()) return meta_slot.status();
  metadata_commit_at_start_ = (*meta_slot)->raft->commit_index();
  for (const auto& [name, topic] : metadata_.state().topics()) {
    for (const auto& p : topic.partitions()) {
      if (std::find(p.replicas().begin(), p.replicas().end(), options_.node_id) == p.replicas().end()) continue;
      raft::ConfState conf;
      conf.voters.assign(p.replicas().begin(), p.replicas().end());
      auto slot = OpenGroup(p.group_id(), conf, &topic, p.partition());
      if (!slot.ok()) return slot.status();
    }
  }
  LogInfo("n", options_.node_id, " loaded ", slots_.size(), " groups (", metadata_.state().topics_size(),
          " topics); metadata commit index ", metadata_commit_at_start_);
  PublishCluster();
  next_tick_ = Clock::now() + options_.tick;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Host::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The loop has stopped: this thread owns the loop's state now. Fail what is still waiting.
  grpc::Status stopping =
      RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down; retry on another node", 100);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mu_);
    loop_exited_ = true;
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) t();  // posted operations see stopping_ and fail fast
  for (auto& [id, slot] : slots_) {
    FailPending(*slot, stopping);
    for (auto& t : slot->transfers) t.done(stopping, {});
    slot->transfers.clear();
    if (slot->view) slot->view->MarkDeleted();
  }
}

void Host::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (!loop_exited_) {
      tasks_.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task();  // after Stop: runs here and fails fast
}

void Host::Deliver(internal::MessageBatch&& batch) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    inbox_.push_back(std::move(batch));
  }
  cv_.notify_one();
}

std::shared_ptr<const ClusterView> Host::cluster() const {
  std::lock_guard lock(mu_);
  return cluster_view_;
}

void Host::Run() {
  std::vector<internal::MessageBatch> inbox;
  std::vector<std::function<void()>> tasks;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_tick_, [&] { return stopping_ || !inbox_.empty() || !tasks_.empty(); });
      if (stopping_) break;
      inbox.swap(inbox_);
      tasks.swap(tasks_);
    }
    Turn(inbox, tasks);
    inbox.clear();
    tasks.clear();
  }
}

void Host::Turn(std::vector<internal::MessageBatch>& inbox, std::vector<std::function<void()>>& tasks) {
  for (const auto& batch : inbox) {
    for (const auto& gm : batch.messages()) Step(gm);
  }
  for (auto& task : tasks) task();
  auto now = Clock::now();
  if (now >= next_tick_) {
    for (auto& [id, slot] : slots_) slot->raft->Tick();
    next_tick_ += options_.tick;
    if (next_tick_ < now) next_tick_ = now + options_.tick;  // fell behind: skip, do not tick in a burst
  }
  ProcessReady();
  for (auto id : to_close_) CloseGroup(id, true);
  to_close_.clear();
  int led = 0;
  for (auto& [id, slot] : slots_) {
    NoteLeadership(*slot);
    CheckTransfers(*slot);
    // Only groups whose leadership could move (another voter exists) count: shutdown waits for these.
    if (slot->was_leader && slot->raft->conf().voters.size() > 1) ++led;
  }
  led_groups_.store(led, std::memory_order_relaxed);
  if (!ready_.load(std::memory_order_relaxed)) {
    Slot* meta = FindSlot(kMetadataGroup);
    if (meta->raft->leader() != 0 && meta->applied >= metadata_commit_at_start_ && !transport_->refused()) {
      ready_.store(true, std::memory_order_release);
      LogInfo("n", options_.node_id, " ready: metadata applied to ", meta->applied, ", controller n",
              meta->raft->leader());
    }
  }
  if (now >= next_retention_) {
    EnforceRetention();
    next_retention_ = now + options_.retention_interval;
  }
  if (cluster_dirty_ || now >= next_publish_) {
    PublishCluster();
    next_publish_ = now + std::chrono::seconds(1);
  }
}

void Host::Step(const internal::GroupMessage& gm) {
  Slot* slot = FindSlot(gm.group_id());
  if (slot == nullptr) return;  // not (yet, or no longer) hosted here: Raft retries
  raft::Message m = FromProto(gm.message());
  if (!slot->is_metadata) {
    // Check every received entry's body CRC before it can reach the log.
    for (const auto& e : m.entries) {
      if (e.type != raft::EntryType::kNormal) continue;
      if (auto s = VerifyEntryData(e.data); !s.ok()) {
        LogError("n", options_.node_id, " g", slot->id, " dropping ", raft::MessageTypeName(m.type), " from n",
                 m.from, ": entry ", e.index, " is corrupt: ", s.message());
        return;
      }
    }
  }
  if (auto s = slot->raft->Step(m); !s.ok()) {
    LogWarning("n", options_.node_id, " g", slot->id, " rejected message: ", s.message());
  }
}

void Host::ProcessReady() {
  struct Work {
    Slot* slot;
    raft::Ready rd;
  };
  std::vector<Work> work;
  std::vector<storage::GroupWrite> writes;
  bool sync = false;
  auto add_messages = [&](std::vector<raft::Message>& msgs, raft::GroupId group) {
    for (auto& m : msgs) {
      auto& batch = outbox_[m.to];
      auto* gm = batch.add_messages();
      gm->set_group_id(group);
      ToProto(m, gm->mutable_message());
    }
  };
  auto flush = [&] {
    for (auto& [to, batch] : outbox_) {
      if (batch.messages_size() > 0) transport_->Send(to, std::move(batch));
    }
    outbox_.clear();
  };
  for (auto& [id, slot] : slots_) {
    if (slot->init_write) {
      writes.push_back(std::move(*slot->init_write));
      slot->init_write.reset();
      sync = options_.unsafe_break != UnsafeBreak::kSkipSync;
    }
    if (!slot->raft->HasReady()) continue;
    Work w{slot.get(), slot->raft->GetReady()};
    add_messages(w.rd.messages, id);
    if (w.rd.hard_state || !w.rd.entries.empty() || w.rd.snapshot) {
      storage::GroupWrite gw;
      gw.group = id;
      gw.hard_state = w.rd.hard_state;
      gw.entries = w.rd.entries;
      gw.snapshot = w.rd.snapshot;
      writes.push_back(std::move(gw));
    }
    sync = (sync || w.rd.MustSync()) && options_.unsafe_break != UnsafeBreak::kSkipSync;
    work.push_back(std::move(w));
  }
  if (work.empty() && writes.empty()) return;
  flush();  // the leaders' appends go out now, in parallel with our own disk write
  if (!writes.empty()) {
    auto start = Clock::now();
    if (auto s = store_->Write(writes, sync); !s.ok()) {
      // A node that cannot persist must not acknowledge anything: stop hard (fail-stop), the others carry on.
      LogError("n", options_.node_id, " storage write failed, stopping: ", s.message());
      std::_Exit(3);
    }
    if (metrics_ != nullptr) metrics_->ObserveWrite(writes.size(), sync, Clock::now() - start);
  }
  std::vector<storage::GroupWrite> apply_writes;
  for (auto& w : work) {
    add_messages(w.rd.messages_after_persist, w.slot->id);
  }
  flush();
  for (auto& w : work) {
    storage::GroupWrite aw;
    aw.group = w.slot->id;
    ApplyCommitted(*w.slot, w.rd, aw);
    if (aw.apply_state || !aw.state_puts.empty() || !aw.state_deletes.empty())
      apply_writes.push_back(std::move(aw));
  }
  if (!apply_writes.empty()) {
    if (auto s = store_->Write(apply_writes, false); !s.ok()) {
      LogError("n", options_.node_id, " storage write of applied state failed, stopping: ", s.message());
      std::_Exit(3);
    }
  }
  for (auto& w : work) {
    w.slot->raft->Advance(w.rd);
    if (w.slot->view) PublishPartition(*w.slot);
  }
  // Messages produced by Advance (the leader counting its own persisted entries can commit and notify) go out in
  // the next turn; make sure there is one soon.
  for (auto& w : work) {
    if (w.slot->raft->HasReady()) {
      std::lock_guard lock(mu_);
      tasks_.push_back([] {});
      break;
    }
  }
}

void Host::ApplyCommitted(Slot& slot, const raft::Ready& rd, storage::GroupWrite& aw) {
  StateDelta delta;
  if (rd.snapshot) {
    raft::Index index = rd.snapshot->index;
    absl::Status s;
    if (slot.is_metadata) {
      s = metadata_.Restore(rd.snapshot_data, &delta);
      cluster_dirty_ = true;
    } else {
      s = slot.machine->Restore(rd.snapshot_data, index, rd.snapshot->next_offset, &delta);
    }
    if (!s.ok()) {
      LogError("n", options_.node_id, " g", slot.id, " cannot install snapshot: ", s.message());
      slot.broken = true;
    }
    slot.applied = index;
    ++slot.snapshots_installed;
    LogInfo("n", options_.node_id, " g", slot.id, " term=", slot.raft->term(), " installed snapshot at index ",
            index, " (next offset ", rd.snapshot->next_offset, ")");
    aw.apply_state = storage::ApplyState{index, rd.snapshot->conf};
  }
  for (const auto& entry : rd.committed) {
    if (slot.broken) break;
    if (slot.is_metadata) {
      auto applied = metadata_.Apply(entry, &delta);
      if (!applied.ok()) {
        LogError("n", options_.node_id, " g0 cannot apply entry ", entry.index, ": ", applied.status().message());
        slot.broken = true;
        break;
      }
      if (entry.type == raft::EntryType::kNormal) {
        cluster_dirty_ = true;
        ApplyMetadataEffects(*applied);
      }
      while (!slot.pending.empty() && slot.pending.begin()->first <= entry.index) {
        auto node = slot.pending.extract(slot.pending.begin());
        for (auto& op : node.mapped()) {
          if (node.key() == entry.index && op.term == entry.term) {
            op.done(grpc::Status::OK, slot, entry, nullptr, &*applied);
          } else {
            op.done(RetryLater(grpc::StatusCode::UNAVAILABLE,
                               "leadership changed before the change committed; retry", 100),
                    slot, entry, nullptr, nullptr);
          }
        }
      }
    } else {
      auto applied = slot.machine->Apply(entry, &delta);
      if (!applied.ok()) {
        LogError("n", options_.node_id, " g", slot.id, " cannot apply entry ", entry.index, ": ",
                 applied.status().message());
        slot.broken = true;
        break;
      }
      while (!slot.pending.empty() && slot.pending.begin()->first <= entry.index) {
        auto node = slot.pending.extract(slot.pending.begin());
        for (auto& op : node.mapped()) {
          if (node.key() == entry.index && op.term == entry.term) {
            op.done(grpc::Status::OK, slot, entry, &*applied, nullptr);
          } else {
            op.done(
                RetryLater(grpc::StatusCode::UNAVAILABLE,
                           "leadership changed before the batch committed; outcome unknown: retry with the same "
                           "producer id and sequence",
                           100),
                slot, entry, nullptr, nullptr);
          }
        }
      }
      if (metrics_ != nullptr && applied->records) metrics_->ObserveApplied(slot.id, *applied);
    }
    slot.applied = entry.index;
  }
  if (!rd.committed.empty() || rd.conf_state) {
    aw.apply_state = storage::ApplyState{slot.applied, rd.conf_state ? *rd.conf_state : slot.raft->conf()};
  }
  aw.state_puts = std::move(delta.puts);
  aw.state_deletes = std::move(delta.deletes);
}

void Host::ApplyMetadataEffects(const MetadataMachine::Applied& applied) {
  if (!applied.status.ok()) return;
  if (applied.created.partitions_size() > 0) {
    const auto& topic = applied.created;
    for (const auto& p : topic.partitions()) {
      if (std::find(p.replicas().begin(), p.replicas().end(), options_.node_id) == p.replicas().end()) continue;
      raft::ConfState conf;
      conf.voters.assign(p.replicas().begin(), p.replicas().end());
      auto slot = OpenGroup(p.group_id(), conf, &topic, p.partition());
      if (!slot.ok()) {
        LogError("n", options_.node_id, " cannot open g", p.group_id(), ": ", slot.status().message());
        continue;
      }
      // The preferred leader campaigns at once, so leaders land where placement put them.
      if (p.replicas(0) == options_.node_id && (*slot)->raft->term() == 0) (*slot)->raft->Campaign();
    }
    LogInfo("n", options_.node_id, " topic '", topic.name(), "' created with ", topic.partitions_size(),
            " partitions");
  }
  if (applied.deleted.partitions_size() > 0) {
    for (const auto& p : applied.deleted.partitions()) {
      if (FindSlot(p.group_id()) != nullptr) to_close_.push_back(p.group_id());
    }
    LogInfo("n", options_.node_id, " topic '", applied.deleted.name(), "' deleted");
  }
}

absl::StatusOr<Host::Slot*> Host::OpenGroup(raft::GroupId id, const raft::ConfState& bootstrap_conf,
                                            const internal::TopicRecord* topic, uint32_t partition) {
  if (Slot* existing = FindSlot(id)) return existing;
  auto slot = std::make_unique<Slot>();
  Slot* s = slot.get();
  s->id = id;
  s->is_metadata = id == kMetadataGroup;
  if (topic != nullptr) {
    s->topic = topic->name();
    s->partition = partition;
    s->topic_id = topic->topic_id();
  }
  auto hard_state = store_->GetHardState(id);
  if (!hard_state.ok()) return hard_state.status();
  auto apply_state = store_->GetApplyState(id);
  if (!apply_state.ok()) return apply_state.status();
  auto bounds_are_empty = [this](raft::GroupId g) {
    auto b = store_->Bounds(g);
    return b.last_index == 0 && b.first_index == 1;
  };
  raft::ConfState conf = apply_state->conf;
  bool fresh = conf.voters.empty() && conf.learners.empty();
  if (fresh) {
    conf = bootstrap_conf;
    storage::GroupWrite init;
    init.group = id;
    init.apply_state = storage::ApplyState{0, conf};
    // raft/README.md "Bootstrapping": an initial member's log starts with a snapshot at index 0 that carries the
    // initial voters, so a leader can always send a follower where the log starts, membership included.
    if (bounds_are_empty(id)) init.snapshot = raft::SnapshotMeta{0, 0, 0, conf};
    s->init_write = std::move(init);
  }
  auto bounds = store_->Bounds(id);
  raft::Index applied = std::max(apply_state->applied_index, bounds.first_index - 1);
  // Offsets at the applied index: from the log start, or from the applied entry itself.
  raft::Offset applied_end = bounds.log_start_offset;
  if (applied >= bounds.first_index) {
    auto entries = store_->Entries(id, applied, applied + 1, 1);
    if (!entries.ok()) return entries.status();
    applied_end = entries->front().end_offset();
  }
  std::vector<std::pair<std::string, std::string>> state;
  auto scan = store_->StateScan(id, "", [&](std::string_view k, std::string_view v) {
    state.emplace_back(std::string(k), std::string(v));
    return true;
  });
  if (!scan.ok()) return scan;
  if (s->is_metadata) {
    if (auto st = metadata_.Load(state); !st.ok()) return st;
    s->reader = std::make_unique<GroupLogReader>(store_, id, [this] { return metadata_.Snapshot(); });
  } else {
    s->machine = std::make_unique<PartitionMachine>();
    if (auto st = s->machine->Load(state, applied, applied_end); !st.ok()) return st;
    s->last_append_time = s->machine->last_append_time_ms();
    s->reader = std::make_unique<GroupLogReader>(store_, id, [s] { return s->machine->Snapshot(); });
    s->view = std::make_shared<PartitionView>(id, s->topic, partition, s->topic_id);
  }
  raft::Config config;
  config.id = options_.node_id;
  config.group = id;
  config.election_ticks = options_.election_ticks;
  config.heartbeat_ticks = options_.heartbeat_ticks;
  config.seed = options_.node_id * 0x9E3779B97F4A7C15ULL ^ (id + 1) * 0xBF58476D1CE4E5B9ULL ^
                static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  auto node = raft::RaftNode::Create(config, s->reader.get(), *hard_state, conf, applied);
  if (!node.ok()) return node.status();
  s->raft = std::move(*node);
  s->applied = applied;
  slots_[id] = std::move(slot);
  if (s->view) {
    PublishPartition(*s);
    cluster_dirty_ = true;
  }
  return s;
}

void Host::CloseGroup(raft::GroupId id, bool drop_data) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  Slot& slot = *it->second;
  FailPending(slot,
              grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", slot.topic, "' was deleted")));
  for (auto& t : slot.transfers) t.done(grpc::Status(grpc::StatusCode::NOT_FOUND, "topic was deleted"), {});
  if (slot.view) slot.view->MarkDeleted();
  slots_.erase(it);
  cluster_dirty_ = true;
  if (drop_data) {
    if (auto s = store_->DropGroup(id); !s.ok()) {
      LogError("n", options_.node_id, " g", id, " cannot drop data: ", s.message());
    }
  }
}

Host::Slot* Host::FindSlot(raft::GroupId id) {
  auto it = slots_.find(id);
  return it == slots_.end() ? nullptr : it->second.get();
}

Host::Slot* Host::FindPartition(const std::string& topic, uint32_t partition) {
  auto t = metadata_.state().topics().find(topic);
  if (t == metadata_.state().topics().end() || partition >= static_cast<uint32_t>(t->second.partitions_size())) {
    return nullptr;
  }
  return FindSlot(t->second.partitions(static_cast<int>(partition)).group_id());
}

void Host::NoteLeadership(Slot& slot) {
  raft::Role role = slot.raft->role();
  if (role != slot.last_role) {
    if (role == raft::Role::kCandidate) ++slot.elections_started;
    if (role == raft::Role::kLeader) ++slot.elections_won;
    slot.last_role = role;
  }
  if (slot.raft->leader() != slot.last_leader) {
    if (slot.raft->leader() != 0) ++slot.leader_changes;
    slot.last_leader = slot.raft->leader();
  }
  bool leader = role == raft::Role::kLeader;
  if (leader && slot.leader_term != slot.raft->term()) {
    if (slot.leader_term != 0) {
      // Re-elected in a later term without this loop seeing a follower turn in between: whatever the earlier
      // term had in flight may have been replaced, so treat it as a leadership loss first.
      FailPending(slot, RetryLater(grpc::StatusCode::UNAVAILABLE,
                                   "leadership changed before the request committed; outcome unknown: retry", 50));
      if (slot.machine) slot.machine->ClearInFlight();
    }
    slot.leader_term = slot.raft->term();
    slot.barrier = slot.raft->last_index();
    if (slot.machine) slot.last_append_time = std::max(slot.last_append_time, slot.machine->last_append_time_ms());
    LogInfo("n", options_.node_id, " g", slot.id, " term=", slot.leader_term, " became leader (barrier ",
            slot.barrier, ")");
    if (slot.is_metadata) cluster_dirty_ = true;
  }
  if (!leader && slot.was_leader) {
    FailPending(slot,
                RetryLater(grpc::StatusCode::UNAVAILABLE,
                           "leadership moved before the request committed; outcome unknown: retry (idempotent "
                           "producers may retry safely)",
                           50));
    if (slot.machine) slot.machine->ClearInFlight();
    slot.leader_term = 0;
    if (slot.is_metadata) cluster_dirty_ = true;
  }
  if (slot.is_metadata && slot.raft->leader() != cluster_view_->controller) cluster_dirty_ = true;
  slot.was_leader = leader;
}

void Host::FailPending(Slot& slot, const grpc::Status& status) {
  auto pending = std::move(slot.pending);
  slot.pending.clear();
  raft::Entry none;
  for (auto& [index, ops] : pending) {
    for (auto& op : ops) op.done(status, slot, none, nullptr, nullptr);
  }
}

void Host::PublishPartition(Slot& slot) {
  NoteLeadership(slot);
  auto bounds = store_->Bounds(slot.id);
  raft::Index readable = slot.applied;
  uint64_t high_watermark = slot.machine->end_offset();
  if (options_.unsafe_break == UnsafeBreak::kReadPastCommit) {
    // Broken on purpose: publish the end of the persisted log, committed or not.
    if (bounds.end_offset > high_watermark) {
      readable = bounds.last_index;
      high_watermark = bounds.end_offset;
    }
  }
  // A new leader takes produce requests once it has applied what earlier terms left (its barrier); until then it
  // does not name itself in metadata, so clients routed by GetMetadata do not meet "retry shortly" from it.
  raft::NodeId leader = slot.raft->leader();
  if (leader == options_.node_id && slot.applied < slot.barrier) leader = 0;
  slot.view->Publish(readable, high_watermark, bounds.log_start_offset, leader, slot.raft->term());
}

absl::StatusOr<UnsafeBreak> ParseUnsafeBreak(absl::string_view name) {
  if (name == "none" || name.empty()) return UnsafeBreak::kNone;
  if (name == "ack_before_commit") return UnsafeBreak::kAckBeforeCommit;
  if (name == "read_past_commit") return UnsafeBreak::kReadPastCommit;
  if (name == "skip_idempotence") return UnsafeBreak::kSkipIdempotence;
  if (name == "skip_sync") return UnsafeBreak::kSkipSync;
  return absl::InvalidArgumentError(absl::StrCat("unknown rule '", std::string(name),
                                                 "'; use none, ack_before_commit, read_past_commit, "
                                                 "skip_idempotence or skip_sync"));
}

void Host::PublishCluster() {
  auto view = std::make_shared<ClusterView>();
  view->metadata = metadata_.state();
  if (Slot* meta = FindSlot(kMetadataGroup)) {
    view->controller = meta->raft->leader();
    view->controller_term = meta->raft->term();
    view->nodes = meta->raft->conf().voters;
  }
  view->client_addresses = transport_->client_addresses();
  view->metrics_addresses = transport_->metrics_addresses();
  for (auto& [id, slot] : slots_) {
    if (slot->view) view->partitions[{slot->topic, slot->partition}] = slot->view;
  }
  {
    std::lock_guard lock(mu_);
    cluster_view_ = std::move(view);
  }
  cluster_dirty_ = false;
}

grpc::Status Host::NotLeaderFor(const Slot& slot) const {
  raft::NodeId leader = slot.raft->leader();
  if (leader == options_.node_id) leader = 0;  // leader but not ready: the caller reports it
  std::string address;
  if (leader != 0) {
    auto addresses = transport_->client_addresses();
    if (auto it = addresses.find(leader); it != addresses.end()) address = it->second;
  }
  return NotLeaderStatus(slot.topic, slot.partition, leader, address, slot.raft->term());
}

grpc::Status Host::CheckLeaderReady(Slot& slot) {
  NoteLeadership(slot);
  if (slot.raft->role() != raft::Role::kLeader) return NotLeaderFor(slot);
  if (slot.applied < slot.barrier) {
    return RetryLater(grpc::StatusCode::UNAVAILABLE, "the new leader is applying earlier entries; retry shortly",
                      20);
  }
  if (slot.broken) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        absl::StrCat("partition group ", slot.id, " stopped applying after a corrupt entry"));
  }
  return grpc::Status::OK;
}

void Host::Produce(ProduceArgs args, std::string entry_data, ProduceDone done) {
  Post([this, req = std::move(args), data = std::move(entry_data), done = std::move(done)]() mutable {
    if (stopping_) {
      done(RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down; retry on another node", 100), {});
      return;
    }
    Slot* slot = FindPartition(req.topic, req.partition);
    if (slot == nullptr) {
      done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("partition ", req.topic, "/", req.partition, " is not hosted on this node")),
           {});
      return;
    }
    if (auto s = CheckLeaderReady(*slot); !s.ok()) {
      done(s, {});
      return;
    }
    const uint32_t count = req.record_count;
    auto decision = slot->machine->CheckProduce(req.producer_id, req.sequence, count);
    if (options_.unsafe_break == UnsafeBreak::kSkipIdempotence) decision.verdict = PartitionMachine::Verdict::kNew;
    auto answer = [](Slot& s, uint64_t base, uint32_t n, int64_t time, bool duplicate, raft::Term term,
                     raft::Index index) {
      v1::ProduceResponse resp;
      resp.set_base_offset(base);
      resp.set_record_count(n);
      resp.set_append_time_ms(time);
      resp.set_duplicate(duplicate);
      auto* receipt = resp.mutable_receipt();
      receipt->set_term(term);
      receipt->set_raft_index(index);
      uint32_t synced = 0;
      for (const auto& p : s.raft->progress()) {
        if (!p.learner && p.match >= index) ++synced;
      }
      receipt->set_synced_replicas(synced);
      receipt->set_replicas(static_cast<uint32_t>(s.raft->conf().voters.size()));
      return resp;
    };
    switch (decision.verdict) {
      case PartitionMachine::Verdict::kDuplicate: {
        const auto& b = decision.original;
        done(grpc::Status::OK,
             answer(*slot, b.base_offset(), b.record_count(), b.append_time_ms(), true, b.term(), b.raft_index()));
        return;
      }
      case PartitionMachine::Verdict::kSequenceGap:
        done(SequenceErrorStatus(req.producer_id, decision.expected_sequence, req.sequence), {});
        return;
      case PartitionMachine::Verdict::kInFlight: {
        slot->pending[decision.inflight_index].push_back(
            PendingOp{slot->leader_term,
                      [done, answer](const grpc::Status& s, const Slot& sl, const raft::Entry& e,
                                     const PartitionMachine::Applied* a, const MetadataMachine::Applied*) {
                        if (!s.ok()) return done(s, {});
                        done(grpc::Status::OK, answer(const_cast<Slot&>(sl), a->base_offset, a->record_count,
                                                      a->append_time_ms, true, e.term, e.index));
                      }});
        return;
      }
      case PartitionMachine::Verdict::kNew:
        break;
    }
    if (req.expected_offset) {
      raft::Offset end = slot->machine->end_offset();
      raft::Index last = slot->raft->last_index();
      if (last > slot->applied) {
        auto tail = slot->raft->entries(last, last + 1);
        if (tail.ok() && !tail->empty()) end = tail->back().end_offset();
      }
      if (end != *req.expected_offset) {
        done(OffsetMismatchStatus(*req.expected_offset, end), {});
        return;
      }
    }
    int64_t append_time = std::max(NowMs(), slot->last_append_time);
    StampAppendTime(data, append_time);
    auto proposed = slot->raft->Propose(std::move(data), count);
    if (!proposed.ok()) {
      const auto& st = proposed.status();
      if (absl::IsFailedPrecondition(st)) return done(NotLeaderFor(*slot), {});
      if (absl::IsResourceExhausted(st)) {
        return done(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               absl::StrCat("partition ", req.topic, "/", req.partition,
                                            " has too many uncommitted bytes in flight; retry after a short wait"),
                               10),
                    {});
      }
      return done(RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(st.message()), 50), {});
    }
    slot->last_append_time = append_time;
    if (options_.unsafe_break == UnsafeBreak::kAckBeforeCommit) {
      return done(grpc::Status::OK, answer(*slot, proposed->base_offset, count, append_time, false, proposed->term,
                                           proposed->index));
    }
    slot->machine->AddInFlight(req.producer_id, req.sequence, count, proposed->index);
    slot->pending[proposed->index].push_back(
        PendingOp{proposed->term, [this, done, answer, proposed_at = Clock::now()](
                                      const grpc::Status& s, const Slot& sl, const raft::Entry& e,
                                      const PartitionMachine::Applied* a, const MetadataMachine::Applied*) {
                    if (!s.ok()) return done(s, {});
                    if (metrics_ != nullptr) metrics_->ObserveCommit(sl.id, Clock::now() - proposed_at);
                    done(grpc::Status::OK, answer(const_cast<Slot&>(sl), a->base_offset, a->record_count,
                                                  a->append_time_ms, false, e.term, e.index));
                  }});
  });
}

void Host::ProposeMetadata(const internal::MetadataCommand& cmd, PendingOp op,
                           const std::function<void(grpc::Status)>& fail) {
  Slot* meta = FindSlot(kMetadataGroup);
  if (auto s = CheckLeaderReady(*meta); !s.ok()) return fail(s);
  auto proposed = meta->raft->Propose(cmd.SerializeAsString(), 0);
  if (!proposed.ok()) {
    if (absl::IsFailedPrecondition(proposed.status())) return fail(NotLeaderFor(*meta));
    return fail(RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(proposed.status().message()), 50));
  }
  op.term = proposed->term;
  meta->pending[proposed->index].push_back(std::move(op));
}

v1::Topic Host::TopicToApi(const internal::TopicRecord& t) {
  v1::Topic out;
  out.set_name(t.name());
  out.set_topic_id(t.topic_id());
  out.set_partition_count(static_cast<uint32_t>(t.partitions_size()));
  out.set_replication_factor(t.replication_factor());
  *out.mutable_config() = t.config();
  out.set_created_ms(t.created_ms());
  return out;
}

void Host::CreateTopic(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, req, done = std::move(done)] {
    if (stopping_) return done(RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down", 100), {});
    Slot* meta = FindSlot(kMetadataGroup);
    if (auto s = CheckLeaderReady(*meta); !s.ok()) return done(s, {});
    if (metadata_.state().topics().contains(req.name())) {
      return done(
          grpc::Status(grpc::StatusCode::ALREADY_EXISTS, absl::StrCat("topic '", req.name(), "' already exists")),
          {});
    }
    const auto& nodes = meta->raft->conf().voters;
    uint32_t rf = req.replication_factor() == 0 ? std::min<uint32_t>(3, static_cast<uint32_t>(nodes.size()))
                                                : req.replication_factor();
    if (rf > nodes.size()) {
      return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               absl::StrCat("replication_factor ", rf, " exceeds the cluster's ", nodes.size(),
                                            " nodes; use at most ", nodes.size())),
                  {});
    }
    internal::MetadataCommand cmd;
    *cmd.mutable_create_topic()->mutable_topic() =
        MetadataMachine::Place(req, rf, nodes, metadata_.state(), NowMs());
    ProposeMetadata(cmd,
                    PendingOp{0,
                              [done](const grpc::Status& s, const Slot&, const raft::Entry&,
                                     const PartitionMachine::Applied*, const MetadataMachine::Applied* m) {
                                if (!s.ok()) return done(s, {});
                                if (!m->status.ok()) return done(ToGrpc(m->status), {});
                                done(grpc::Status::OK, TopicToApi(m->created));
                              }},
                    [done](grpc::Status s) { done(s, {}); });
  });
}

void Host::DeleteTopic(const std::string& name, std::function<void(grpc::Status)> done) {
  Post([this, name, done = std::move(done)] {
    if (stopping_) return done(RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down", 100));
    Slot* meta = FindSlot(kMetadataGroup);
    if (auto s = CheckLeaderReady(*meta); !s.ok()) return done(s);
    auto it = metadata_.state().topics().find(name);
    if (it == metadata_.state().topics().end()) {
      return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")));
    }
    internal::MetadataCommand cmd;
    cmd.mutable_delete_topic()->set_name(name);
    cmd.mutable_delete_topic()->set_topic_id(it->second.topic_id());
    ProposeMetadata(cmd,
                    PendingOp{0,
                              [done](const grpc::Status& s, const Slot&, const raft::Entry&,
                                     const PartitionMachine::Applied*, const MetadataMachine::Applied* m) {
                                if (!s.ok()) return done(s);
                                done(ToGrpc(m->status));
                              }},
                    done);
  });
}

void Host::DescribeTopic(const std::string& name, std::function<void(grpc::Status, v1::Topic)> done) {
  Post([this, name, done = std::move(done)] {
    auto it = metadata_.state().topics().find(name);
    if (it == metadata_.state().topics().end()) {
      return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")),
                  {});
    }
    v1::Topic topic = TopicToApi(it->second);
    for (const auto& p : it->second.partitions()) {
      auto* info = topic.add_partitions();
      info->set_partition(p.partition());
      info->set_group_id(p.group_id());
      for (auto r : p.replicas()) info->add_replicas(r);
      Slot* slot = FindSlot(p.group_id());
      if (slot == nullptr) continue;
      info->set_leader_id(slot->view ? slot->view->leader() : slot->raft->leader());  // as GetMetadata says
      info->set_leader_term(slot->raft->term());
      info->set_high_watermark(slot->machine->end_offset());
      info->set_log_start_offset(store_->Bounds(slot->id).log_start_offset);
      if (slot->raft->role() == raft::Role::kLeader) {
        raft::Index commit = slot->raft->commit_index();
        for (const auto& pr : slot->raft->progress()) {
          if (!pr.learner && Heard(pr) && pr.match >= commit) info->add_caught_up_replicas(pr.id);
        }
      }
    }
    done(grpc::Status::OK, std::move(topic));
  });
}

void Host::TransferLeadership(const v1::TransferLeadershipRequest& req,
                              std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done) {
  Post([this, req, done = std::move(done)] {
    Slot* slot = FindPartition(req.topic(), req.partition());
    if (slot == nullptr) {
      return done(
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("partition ", req.topic(), "/", req.partition(), " is not hosted here")),
          {});
    }
    if (auto s = CheckLeaderReady(*slot); !s.ok()) return done(s, {});
    raft::NodeId target = req.target_node_id();
    const auto& voters = slot->raft->conf().voters;
    if (target == 0) {
      raft::Index best = 0;
      for (const auto& p : slot->raft->progress()) {
        if (p.id != options_.node_id && !p.learner && p.match >= best) {
          best = p.match;
          target = p.id;
        }
      }
    }
    if (target == options_.node_id) {
      v1::TransferLeadershipResponse resp;
      resp.set_leader_id(target);
      resp.set_term(slot->raft->term());
      return done(grpc::Status::OK, resp);
    }
    if (target == 0 || std::find(voters.begin(), voters.end(), target) == voters.end()) {
      return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               absl::StrCat("node ", req.target_node_id(), " is not a replica of ", req.topic(),
                                            "/", req.partition(), "; replicas are ", absl::StrJoin(voters, ","))),
                  {});
    }
    if (auto s = slot->raft->TransferLeadership(target); !s.ok()) return done(ToGrpc(s), {});
    slot->transfers.push_back(
        Slot::Transfer{target, Clock::now() + options_.tick * options_.election_ticks * 3, std::move(done)});
  });
}

// Retention is local to each replica (as in Kafka): every node drops its own log prefix by the topic's limits,
// never past what it has applied. A follower that later needs dropped entries gets a snapshot from its leader.
void Host::EnforceRetention() {
  const int64_t now_ms = NowMs();
  for (auto& [id, slot] : slots_) {
    if (slot->is_metadata || slot->broken) continue;
    auto topic = metadata_.state().topics().find(slot->topic);
    if (topic == metadata_.state().topics().end()) continue;
    const auto& config = topic->second.config();
    if (config.retention_bytes() == 0 && config.retention_ms() == 0) continue;
    const raft::Index start = store_->Bounds(id).first_index - 1;
    raft::Index cut = start;
    if (config.retention_bytes() > 0) {
      auto c = store_->RetentionCutForSize(id, config.retention_bytes(), slot->applied);
      if (c.ok()) cut = std::max(cut, *c);
    }
    if (config.retention_ms() > 0) {
      auto c =
          store_->RetentionCutForTime(id, now_ms - static_cast<int64_t>(config.retention_ms()), slot->applied);
      if (c.ok()) cut = std::max(cut, *c);
    }
    if (cut <= start) continue;
    if (auto s = store_->DropPrefix(id, cut); !s.ok()) {
      LogWarning("n", options_.node_id, " g", id, " retention could not drop the log up to ", cut, ": ",
                 s.message());
      continue;
    }
    slot->raft->Compact(cut);
    ++slot->truncations;
    PublishPartition(*slot);
  }
}

void Host::CheckTransfers(Slot& slot) {
  if (slot.transfers.empty()) return;
  auto now = Clock::now();
  auto keep = slot.transfers.begin();
  for (auto& t : slot.transfers) {
    if (slot.raft->leader() == t.target) {
      v1::TransferLeadershipResponse resp;
      resp.set_leader_id(t.target);
      resp.set_term(slot.raft->term());
      t.done(grpc::Status::OK, resp);
    } else if (now >= t.deadline) {
      t.done(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          absl::StrCat("leadership did not move to node ", t.target,
                                       " within the transfer timeout; it may be lagging or unreachable")),
             {});
    } else {
      *keep++ = std::move(t);
    }
  }
  slot.transfers.erase(keep, slot.transfers.end());
}

void Host::TransferAllLeadership() {
  Post([this] {
    for (auto& [id, slot] : slots_) {
      if (slot->raft->role() != raft::Role::kLeader) continue;
      raft::NodeId target = 0;
      raft::Index best = 0;
      for (const auto& p : slot->raft->progress()) {
        if (p.id != options_.node_id && !p.learner && p.recent_active && p.match >= best) {
          best = p.match;
          target = p.id;
        }
      }
      if (target != 0) (void)slot->raft->TransferLeadership(target);
    }
  });
}

// A replica the leader heard from within an election timeout (the leader itself always counts). A follower that
// died on an idle partition matches the commit index forever; it must still not count as in sync.
bool Host::Heard(const raft::ReplicaProgress& p) const {
  return p.id == options_.node_id || p.ticks_since_heard <= options_.election_ticks;
}

void Host::CollectStats(std::function<void(std::vector<GroupStats>)> done) {
  Post([this, done = std::move(done)] {
    std::vector<GroupStats> out;
    out.reserve(slots_.size());
    for (auto& [id, slot] : slots_) {
      GroupStats g;
      g.group = id;
      g.is_metadata = slot->is_metadata;
      g.topic = slot->topic;
      g.partition = slot->partition;
      g.term = slot->raft->term();
      g.commit_index = slot->raft->commit_index();
      g.applied_index = slot->applied;
      g.last_index = slot->raft->last_index();
      g.leader = slot->raft->leader();
      g.is_leader = slot->raft->role() == raft::Role::kLeader;
      g.replicas = static_cast<uint32_t>(slot->raft->conf().voters.size());
      auto bounds = store_->Bounds(id);
      g.log_start_offset = bounds.log_start_offset;
      g.log_end_offset = bounds.end_offset;
      if (slot->machine) {
        g.high_watermark = slot->machine->end_offset();
        for (const auto& [name, offset] : slot->machine->groups()) g.group_offsets[name] = offset.offset();
      }
      if (g.is_leader) {
        for (const auto& p : slot->raft->progress()) {
          if (p.learner) continue;
          g.max_follower_lag =
              std::max<uint64_t>(g.max_follower_lag, g.last_index - std::min(p.match, g.last_index));
          if (!Heard(p) || p.match < g.commit_index) ++g.under_replicated;
        }
      }
      g.elections_started = slot->elections_started;
      g.elections_won = slot->elections_won;
      g.leader_changes = slot->leader_changes;
      g.snapshots_installed = slot->snapshots_installed;
      g.truncations = slot->truncations;
      out.push_back(std::move(g));
    }
    done(std::move(out));
  });
}

void Host::CommitOffsets(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done) {
  Post([this, req, done = std::move(done)] {
    if (stopping_) return done(RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down", 100));
    auto topic = metadata_.state().topics().find(req.topic());
    if (topic == metadata_.state().topics().end()) {
      return done(
          grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", req.topic(), "' does not exist")));
    }
    std::vector<Slot*> slots;
    for (int i = 0; i < req.offsets_size(); ++i) {
      const auto& po = req.offsets(i);
      if (po.partition() >= static_cast<uint32_t>(topic->second.partitions_size())) {
        return done(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("topic '", req.topic(), "' has ", topic->second.partitions_size(),
                                              " partitions; partition ", po.partition(), " does not exist")));
      }
      Slot* slot = FindPartition(req.topic(), po.partition());
      if (slot == nullptr) {
        return done(
            grpc::Status(grpc::StatusCode::UNAVAILABLE,
                         absl::StrCat("partition ", req.topic(), "/", po.partition(), " is not hosted here")));
      }
      if (auto s = CheckLeaderReady(*slot); !s.ok()) return done(s);
      if (po.offset() > slot->machine->end_offset()) {
        return done(InvalidField(absl::StrCat("offsets[", i, "].offset"),
                                 absl::StrCat("is ", po.offset(), " but partition ", po.partition(),
                                              " has high watermark ", slot->machine->end_offset())));
      }
      slots.push_back(slot);
    }
    struct Join {
      int remaining;
      grpc::Status first_error;
      std::function<void(grpc::Status)> done;
    };
    auto join = std::make_shared<Join>(Join{req.offsets_size(), grpc::Status::OK, done});
    for (int i = 0; i < req.offsets_size(); ++i) {
      const auto& po = req.offsets(i);
      internal::OffsetCommit commit;
      commit.set_group(req.group());
      commit.set_partition(po.partition());
      commit.set_offset(po.offset());
      commit.set_metadata(po.metadata());
      std::string data = EncodeOffsetCommit(commit);
      Slot* slot = slots[i];
      int64_t t = std::max(NowMs(), slot->last_append_time);
      StampAppendTime(data, t);
      auto finish = [join](const grpc::Status& s) {
        if (!s.ok() && join->first_error.ok()) join->first_error = s;
        if (--join->remaining == 0) join->done(join->first_error);
      };
      auto proposed = slot->raft->Propose(std::move(data), 0);
      if (!proposed.ok()) {
        finish(absl::IsFailedPrecondition(proposed.status())
                   ? NotLeaderFor(*slot)
                   : RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(proposed.status().message()), 50));
        continue;
      }
      slot->last_append_time = t;
      slot->pending[proposed->index].push_back(
          PendingOp{proposed->term,
                    [finish](const grpc::Status& s, const Slot&, const raft::Entry&,
                             const PartitionMachine::Applied*, const MetadataMachine::Applied*) { finish(s); }});
    }
  });
}

void Host::FetchOffsets(const v1::FetchOffsetsRequest& req,
                        std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done) {
  Post([this, req, done = std::move(done)] {
    auto topic = metadata_.state().topics().find(req.topic());
    if (topic == metadata_.state().topics().end()) {
      return done(
          grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", req.topic(), "' does not exist")), {});
    }
    v1::FetchOffsetsResponse resp;
    for (uint32_t p : req.partitions()) {
      if (p >= static_cast<uint32_t>(topic->second.partitions_size())) {
        return done(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("topic '", req.topic(), "' has ", topic->second.partitions_size(),
                                              " partitions; partition ", p, " does not exist")),
                    {});
      }
      Slot* slot = FindPartition(req.topic(), p);
      if (slot == nullptr) {
        return done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrCat("partition ", req.topic(), "/", p, " is not hosted here")),
                    {});
      }
      if (auto s = CheckLeaderReady(*slot); !s.ok()) return done(s, {});
      auto* out = resp.add_offsets();
      out->set_partition(p);
      uint64_t hwm = slot->machine->end_offset();
      out->set_high_watermark(hwm);
      auto g = slot->machine->groups().find(req.group());
      if (g != slot->machine->groups().end()) {
        out->set_committed(true);
        out->set_offset(g->second.offset());
        out->set_metadata(g->second.metadata());
        out->set_commit_time_ms(g->second.commit_time_ms());
        out->set_lag(hwm > g->second.offset() ? hwm - g->second.offset() : 0);
      }
    }
    done(grpc::Status::OK, std::move(resp));
  });
}

}  // namespace brook::server
