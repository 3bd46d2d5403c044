#include "server/host/moves.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/errors.h"
#include "server/common/log.h"
#include "server/host/move_plan.h"

namespace brook::server {
namespace {

template <typename A, typename B>
bool SameSet(const A& a, const B& b) {
  return std::set<uint64_t>(a.begin(), a.end()) == std::set<uint64_t>(b.begin(), b.end());
}

// The group's members are exactly `replicas`, all voters: no move step can be due.
bool Settled(const raft::ConfState& conf, const google::protobuf::RepeatedField<uint64_t>& replicas) {
  if (!conf.learners.empty() || !conf.voters_outgoing.empty() ||
      conf.voters.size() != static_cast<size_t>(replicas.size()))
    return false;
  for (uint64_t r : replicas) {
    if (std::find(conf.voters.begin(), conf.voters.end(), r) == conf.voters.end()) return false;
  }
  return true;
}

std::vector<raft::NodeId> Ids(const google::protobuf::RepeatedField<uint64_t>& f) {
  return std::vector<raft::NodeId>(f.begin(), f.end());
}

const internal::PartitionAssignment* AssignmentOf(const internal::MetadataState& meta, const PartitionGroup& g) {
  auto t = meta.topics().find(g.topic());
  if (t == meta.topics().end() || t->second.topic_id() != g.topic_id() ||
      g.partition() >= static_cast<uint32_t>(t->second.partitions_size())) {
    return nullptr;
  }
  return &t->second.partitions(static_cast<int>(g.partition()));
}

}  // namespace

bool ReplicaMoves::Reachable(raft::NodeId node) const {
  if (node == ctx_->self()) return true;
  for (const auto& p : ctx_->groups->metadata().raft().progress()) {
    if (p.id == node) return ctx_->Heard(p);
  }
  return false;
}

grpc::Status ReplicaMoves::CheckReachable(const internal::PartitionAssignment& p,
                                          const std::vector<raft::NodeId>& target) const {
  for (raft::NodeId n : target) {
    if (!Reachable(n)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("node ", n,
                                       " is not reachable from the controller; a new replica must be up "
                                       "to copy the log (start it, or pick another node)"));
    }
  }
  int up = 0;
  for (raft::NodeId n : p.replicas()) up += Reachable(n) ? 1 : 0;
  const int majority = p.replicas_size() / 2 + 1;
  if (up < majority) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("only ", up, " of the partition's ", p.replicas_size(), " replicas (",
                                     absl::StrJoin(p.replicas(), ","), ") are reachable; a move needs ", majority,
                                     " to commit each change. Bring replicas back first"));
  }
  return grpc::Status::OK;
}

void ReplicaMoves::Move(const v1::MoveReplicasRequest& req,
                        std::function<void(grpc::Status, v1::MoveReplicasResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  const auto& topics = meta.machine().state().topics();
  auto it = topics.find(req.topic());
  if (it == topics.end() || (req.expected_topic_id() != 0 && it->second.topic_id() != req.expected_topic_id())) {
    return done(
        grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", req.topic(), "' does not exist")), {});
  }
  const internal::TopicRecord& t = it->second;
  if (req.partition() >= static_cast<uint32_t>(t.partitions_size())) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND,
                             absl::StrCat("topic '", req.topic(), "' has ", t.partitions_size(),
                                          " partitions; partition ", req.partition(), " does not exist")),
                {});
  }
  const auto& p = t.partitions(static_cast<int>(req.partition()));
  const std::vector<raft::NodeId> target = Ids(req.replicas());
  if (auto s = MetadataMachine::CheckMoveTarget(t, target, ctx_->ActiveMembers()); !s.ok())
    return done(ToGrpc(s), {});
  if (std::equal(target.begin(), target.end(), p.replicas().begin(), p.replicas().end())) {
    return done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             absl::StrCat("the replicas of ", req.topic(), "/", req.partition(), " already are ",
                                          absl::StrJoin(target, ","))),
                {});
  }
  if (p.target_replicas_size() > 0) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             absl::StrCat("a move of ", req.topic(), "/", req.partition(), " to ",
                                          absl::StrJoin(p.target_replicas(), ","),
                                          " already runs; cancel it first (brook topic cancel-move)")),
                {});
  }
  if (auto s = CheckReachable(p, target); !s.ok()) return done(s, {});
  v1::MoveReplicasResponse resp;
  resp.set_topic(req.topic());
  resp.set_partition(req.partition());
  *resp.mutable_from_replicas() = p.replicas();
  *resp.mutable_to_replicas() = req.replicas();
  for (auto& step : PlanMove(Ids(p.replicas()), target)) *resp.add_plan() = std::move(step);
  if (req.dry_run()) return done(grpc::Status::OK, std::move(resp));
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  internal::MetadataCommand cmd;
  auto* move = cmd.mutable_move_replicas();
  move->set_topic(req.topic());
  move->set_topic_id(t.topic_id());
  move->set_partition(req.partition());
  *move->mutable_target() = req.replicas();
  move->set_time_ms(ctx_->NowMs());
  ctx_->ProposeMetadata(cmd,
                        [done, resp = std::move(resp)](const grpc::Status& s, const MetadataApplied* m) mutable {
                          if (!s.ok()) return done(s, {});
                          if (!m->status.ok()) return done(ToGrpc(m->status), {});
                          resp.set_started(true);
                          done(grpc::Status::OK, std::move(resp));
                        });
}

void ReplicaMoves::Cancel(const v1::CancelMoveRequest& req,
                          std::function<void(grpc::Status, v1::CancelMoveResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  auto it = meta.machine().state().topics().find(req.topic());
  if (it == meta.machine().state().topics().end()) {
    return done(
        grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", req.topic(), "' does not exist")), {});
  }
  internal::MetadataCommand cmd;
  cmd.mutable_cancel_move()->set_topic(req.topic());
  cmd.mutable_cancel_move()->set_topic_id(it->second.topic_id());
  cmd.mutable_cancel_move()->set_partition(req.partition());
  const uint32_t partition = req.partition();
  ctx_->ProposeMetadata(cmd, [done, partition](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    v1::CancelMoveResponse resp;
    *resp.mutable_replicas() = m->placed.partitions(static_cast<int>(partition)).replicas();
    done(grpc::Status::OK, std::move(resp));
  });
}

void ReplicaMoves::List(std::function<void(grpc::Status, v1::ListOperationsResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  v1::ListOperationsResponse resp;
  for (const auto& [name, t] : meta.machine().state().topics()) {
    for (const auto& p : t.partitions()) {
      if (p.target_replicas_size() == 0) continue;
      v1::ReplicaMove* m = resp.add_moves();
      m->set_topic(name);
      m->set_partition(p.partition());
      m->set_group_id(p.group_id());
      *m->mutable_from_replicas() = p.replicas();
      *m->mutable_to_replicas() = p.target_replicas();
      m->set_cancelled(p.move_cancelled());
      m->set_started_ms(p.move_started_ms());
      auto r = reports_.find(p.group_id());
      if (r == reports_.end()) continue;
      const internal::MoveReport& rep = r->second.report;
      m->set_leader_id(r->second.from);
      m->set_reported_ms(r->second.at_ms);
      *m->mutable_voters() = rep.voters();
      *m->mutable_learners() = rep.learners();
      const uint64_t per_member = rep.end_offset() - std::min(rep.end_offset(), rep.log_start_offset());
      uint64_t copied = 0;
      for (uint64_t offset : rep.progress_offsets()) {
        copied += std::min(offset, rep.end_offset()) - std::min(offset, rep.log_start_offset());
      }
      const uint64_t total = per_member * static_cast<uint64_t>(rep.progress_nodes_size());
      m->set_records_total(total);
      m->set_records_copied(copied);
      m->set_bytes_total(rep.log_bytes() * static_cast<uint64_t>(rep.progress_nodes_size()));
      m->set_bytes_copied(total == 0
                              ? 0
                              : static_cast<uint64_t>(static_cast<double>(m->bytes_total()) *
                                                      static_cast<double>(copied) / static_cast<double>(total)));
    }
  }
  done(grpc::Status::OK, std::move(resp));
}

void ReplicaMoves::OnReport(raft::NodeId from, const internal::MoveReport& report) {
  if (report.voters_size() > kMaxReportedMembers || report.learners_size() > kMaxReportedMembers ||
      report.progress_nodes_size() > kMaxReportedMembers ||
      report.progress_nodes_size() != report.progress_offsets_size()) {
    return;
  }
  MetadataGroup& meta = ctx_->groups->metadata();
  if (meta.raft().role() != raft::Role::kLeader) return;
  const internal::PartitionAssignment* p = meta.machine().FindGroup(report.group_id());
  if (p == nullptr || p->target_replicas_size() == 0) {
    reports_.erase(report.group_id());
    return;
  }
  auto& slot = reports_[report.group_id()];
  if (slot.from == from && slot.report.term() > report.term()) return;  // an older leader's late report
  slot = Reported{report, from, ctx_->NowMs()};
  if (!report.learners().empty() || !SameSet(report.voters(), p->target_replicas())) return;
  if (!completing_.insert(report.group_id()).second) return;
  internal::MetadataCommand cmd;
  cmd.mutable_complete_move()->set_group_id(report.group_id());
  *cmd.mutable_complete_move()->mutable_voters() = report.voters();
  const raft::GroupId gid = report.group_id();
  ctx_->ProposeMetadata(cmd, [this, gid](const grpc::Status& s, const MetadataApplied* m) {
    completing_.erase(gid);
    if (s.ok() && m->status.ok()) return;
    LogWarning("n", ctx_->self(), " g", gid,
               " move completion not recorded: ", s.ok() ? std::string(m->status.message()) : s.error_message());
  });
}

void ReplicaMoves::OnMetadataApplied(const MetadataApplied& applied) {
  if (!applied.status.ok() || applied.placed.partitions_size() == 0) return;
  for (const auto& p : applied.placed.partitions()) {
    if (p.target_replicas_size() > 0) continue;
    auto r = reports_.find(p.group_id());
    if (r == reports_.end()) continue;
    if (applied.move_started_ms != 0 && ctx_->metrics != nullptr &&
        ctx_->groups->metadata().raft().role() == raft::Role::kLeader) {
      ctx_->metrics->ObserveMoveCompleted(
          std::chrono::milliseconds(ctx_->NowMs() - applied.move_started_ms),
          r->second.report.log_bytes() * static_cast<uint64_t>(r->second.report.progress_nodes_size()));
    }
    reports_.erase(r);
  }
}

void ReplicaMoves::Run(Clock::TimePoint now) {
  if (now < next_step_) return;
  next_step_ = now + kStepInterval;
  const bool report = now >= next_report_;
  if (report) next_report_ = now + kReportInterval;
  const internal::MetadataState& meta = ctx_->groups->metadata().machine().state();
  const raft::NodeId controller = ctx_->groups->metadata().raft().leader();
  internal::MessageBatch batch;
  const raft::Index meta_applied = ctx_->groups->metadata().applied();
  const bool all = report || meta_applied != looked_meta_applied_;
  looked_meta_applied_ = meta_applied;
  if (all) {
    for (auto& [id, g] : ctx_->groups->partitions()) Look(*g, meta, controller, report, batch);
  } else {
    ctx_->groups->ForEachAwake([&](Group& g) {
      if (g.id() != kMetadataGroupId) Look(static_cast<PartitionGroup&>(g), meta, controller, report, batch);
    });
  }
  if (ctx_->groups->metadata().raft().role() == raft::Role::kLeader) RemoveDrained();
  if (ctx_->metrics != nullptr && report) {
    int in_flight = 0;
    if (ctx_->groups->metadata().raft().role() == raft::Role::kLeader) {
      for (const auto& [name, t] : meta.topics()) {
        for (const auto& p : t.partitions()) in_flight += p.target_replicas_size() > 0 ? 1 : 0;
      }
    }
    ctx_->metrics->SetMovesInFlight(in_flight);
  }
  if (batch.move_reports_size() == 0) return;
  if (controller == ctx_->self()) {
    for (const auto& r : batch.move_reports()) OnReport(ctx_->self(), r);
  } else {
    ctx_->network->Send(controller, std::move(batch));
  }
}

void ReplicaMoves::Look(PartitionGroup& g, const internal::MetadataState& meta, raft::NodeId controller,
                        bool report, internal::MessageBatch& batch) {
  if (g.raft().role() != raft::Role::kLeader || !g.serving()) return;
  const internal::PartitionAssignment* p = AssignmentOf(meta, g);
  if (p == nullptr || p->replicas().empty()) return;
  const bool running = p->target_replicas_size() > 0;
  if (!running && Settled(g.raft().conf(), p->replicas())) return;  // nothing to do: the common case
  Step(g, Ids(running ? p->target_replicas() : p->replicas()));
  if (running && report && controller != 0) *batch.add_move_reports() = Report(g, *p);
}

void ReplicaMoves::Step(PartitionGroup& g, const std::vector<raft::NodeId>& desired) {
  raft::RaftNode& raft = g.raft();
  const raft::Index commit = raft.commit_index();
  std::map<raft::NodeId, raft::ReplicaProgress> progress;
  for (const auto& p : raft.progress()) progress[p.id] = p;
  MemberHealth health{
      [&](raft::NodeId n) { return progress.contains(n) && ctx_->Heard(progress[n]); },
      [&](raft::NodeId n) { return progress.contains(n) && progress[n].match >= commit; },
  };
  MoveAction a = NextMoveStep(raft.conf(), desired, ctx_->self(), health);
  if (a.kind != MoveAction::Kind::kStep) return;
  const raft::NodeId n = a.step.node_id();
  absl::Status s;
  switch (a.step.kind()) {
    case v1::MoveStep::ADD_LEARNER:
      s = raft.ProposeConfChange({raft::ConfChangeType::kAddLearner, n}).status();
      break;
    case v1::MoveStep::PROMOTE:
      s = raft.ProposeConfChange({raft::ConfChangeType::kPromoteLearner, n}).status();
      break;
    case v1::MoveStep::REMOVE:
      s = raft.ProposeConfChange({raft::ConfChangeType::kRemoveNode, n}).status();
      break;
    case v1::MoveStep::TRANSFER_LEADER:
      if (!g.transfers().empty()) return;
      s = raft.TransferLeadership(n);
      break;
    default:
      return;
  }
  // Refusals are routine (a change still pending, a transfer running): the next look tries again.
  if (s.ok())
    LogInfo("n", ctx_->self(), " g", g.id(), " ", g.topic(), "/", g.partition(), ": ", DescribeStep(a.step));
}

internal::MoveReport ReplicaMoves::Report(PartitionGroup& g, const internal::PartitionAssignment& p) {
  internal::MoveReport r;
  r.set_group_id(g.id());
  r.set_term(g.raft().term());
  for (auto v : g.raft().conf().voters) r.add_voters(v);
  for (auto l : g.raft().conf().learners) r.add_learners(l);
  const storage::LogBounds bounds = ctx_->store->Bounds(g.id());
  r.set_log_start_offset(bounds.log_start_offset);
  r.set_end_offset(bounds.end_offset);
  r.set_log_bytes(ctx_->store->ApproximateGroupBytes(g.id()));
  for (raft::NodeId n : p.target_replicas()) {
    if (std::find(p.replicas().begin(), p.replicas().end(), n) != p.replicas().end()) continue;
    raft::Index match = 0;
    for (const auto& pr : g.raft().progress()) {
      if (pr.id == n) match = pr.match;
    }
    auto offset = EndOffsetAt(*ctx_->store, g.id(), match);
    r.add_progress_nodes(n);
    r.add_progress_offsets(offset.ok() ? *offset : bounds.log_start_offset);
  }
  return r;
}

}  // namespace brook::server
