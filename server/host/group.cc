#include "server/host/group.h"

#include <algorithm>

#include "server/common/errors.h"
#include "server/common/log.h"

namespace brook::server {
absl::StatusOr<raft::Offset> EndOffsetAt(const storage::Store& store, raft::GroupId group, raft::Index applied) {
  auto bounds = store.Bounds(group);
  if (applied < bounds.first_index) return bounds.log_start_offset;
  auto entries = store.Entries(group, applied, applied + 1, 1);
  if (!entries.ok()) return entries.status();
  return entries->front().end_offset();
}

namespace {

absl::StatusOr<StoredState> ScanState(const storage::Store& store, raft::GroupId group) {
  StoredState state;
  auto scan = store.StateScan(group, "", [&](std::string_view k, std::string_view v) {
    state.emplace_back(std::string(k), std::string(v));
    return true;
  });
  if (!scan.ok()) return scan;
  return state;
}

}  // namespace

absl::Status Group::Open(storage::Store* store, const GroupOptions& options, const raft::ConfState& bootstrap) {
  self_ = options.self;
  auto hard_state = store->GetHardState(id_);
  if (!hard_state.ok()) return hard_state.status();
  auto apply_state = store->GetApplyState(id_);
  if (!apply_state.ok()) return apply_state.status();
  raft::ConfState conf = apply_state->conf;
  if (conf.voters.empty() && conf.learners.empty()) {
    conf = bootstrap;
    storage::GroupWrite init;
    init.group = id_;
    init.apply_state = storage::ApplyState{0, conf};
    // raft/README.md "Bootstrapping": an initial member's log starts with a snapshot at index 0 that carries the
    // initial voters, so a leader can always send a follower where the log starts, membership included.
    auto bounds = store->Bounds(id_);
    if (bounds.last_index == 0 && bounds.first_index == 1) init.snapshot = raft::SnapshotMeta{0, 0, 0, conf};
    init_write_ = std::move(init);
  }
  const raft::Index applied = std::max(apply_state->applied_index, store->Bounds(id_).first_index - 1);
  auto applied_end = EndOffsetAt(*store, id_, applied);
  if (!applied_end.ok()) return applied_end.status();
  auto state = ScanState(*store, id_);
  if (!state.ok()) return state.status();
  if (auto s = LoadMachine(*state, LogPoint{applied, *applied_end}); !s.ok()) return s;
  reader_ = std::make_unique<GroupLogReader>(store, id_, [this] { return MachineSnapshot(); });

  raft::Config config;
  config.id = options.self;
  config.group = id_;
  config.election_ticks = options.election_ticks;
  config.heartbeat_ticks = options.heartbeat_ticks;
  config.is_cluster_node = options.is_cluster_node;
  config.learner_bytes_per_tick = options.learner_bytes_per_tick;
  config.seed = options.self * 0x9E3779B97F4A7C15ULL ^ (id_ + 1) * 0xBF58476D1CE4E5B9ULL ^ options.seed;
  auto node = raft::RaftNode::Create(config, reader_.get(), *hard_state, conf, applied);
  if (!node.ok()) return node.status();
  raft_ = std::move(*node);
  applied_ = applied;
  return absl::OkStatus();
}

bool Group::Idle() const {
  return raft_->quiesced() && !init_write_ && raft_->role() == last_role_ && raft_->leader() == last_leader_ &&
         !raft_->HasReady();
}

std::optional<storage::GroupWrite> Group::TakeInitWrite() {
  auto out = std::move(init_write_);
  init_write_.reset();
  return out;
}

void Group::NoteLeadership() {
  const raft::Role role = raft_->role();
  if (role != last_role_) {
    if (role == raft::Role::kCandidate) ++counters_.elections_started;
    if (role == raft::Role::kLeader) ++counters_.elections_won;
    last_role_ = role;
  }
  if (raft_->leader() != last_leader_) {
    if (raft_->leader() != 0) ++counters_.leader_changes;
    last_leader_ = raft_->leader();
  }
  const bool leader = role == raft::Role::kLeader;
  if (leader && leader_term_ != raft_->term()) {
    if (leader_term_ != 0) {
      // Re-elected in a later term without this loop seeing a follower turn in between: whatever the earlier
      // term had in flight may have been replaced, so treat it as a leadership loss first.
      FailPending(RetryLater(grpc::StatusCode::UNAVAILABLE,
                             "leadership changed before the request committed; outcome unknown: retry", 50));
      OnLeftOffice();
    }
    leader_term_ = raft_->term();
    barrier_ = raft_->last_index();
    OnTookOffice();
    LogInfo("n", self_, " g", id_, " term=", leader_term_, " became leader (barrier ", barrier_, ")");
  }
  if (!leader && was_leader_) {
    FailPending(RetryLater(grpc::StatusCode::UNAVAILABLE,
                           "leadership moved before the request committed; outcome unknown: retry (idempotent "
                           "producers may retry safely)",
                           50));
    OnLeftOffice();
    leader_term_ = 0;
  }
  was_leader_ = leader;
}

}  // namespace brook::server
