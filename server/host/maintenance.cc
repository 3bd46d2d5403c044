#include "server/host/maintenance.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/errors.h"
#include "server/common/log.h"

namespace brook::server {

void Maintenance::EnforceRetention() {
  const int64_t now_ms = ctx_->NowMs();
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  for (const auto& [id, g] : ctx_->groups->partitions()) {
    if (g->broken()) continue;
    auto topic = topics.find(g->topic());
    if (topic == topics.end()) continue;
    const auto& config = topic->second.config();
    if (config.retention_bytes() == 0 && config.retention_ms() == 0) continue;
    EnforceRetention(*g, config, now_ms);
  }
}

void Maintenance::EnforceRetention(PartitionGroup& g, const v1::TopicConfig& config, int64_t now_ms) {
  storage::Store& store = *ctx_->store;
  const raft::Index start = store.Bounds(g.id()).first_index - 1;
  raft::Index cut = start;
  if (config.retention_bytes() > 0) {
    auto c = store.RetentionCutForSize(g.id(), config.retention_bytes(), g.applied());
    if (c.ok()) cut = std::max(cut, *c);
  }
  if (config.retention_ms() > 0) {
    auto c = store.RetentionCutForTime(g.id(), now_ms - static_cast<int64_t>(config.retention_ms()), g.applied());
    if (c.ok()) cut = std::max(cut, *c);
  }
  if (cut <= start) return;
  if (auto s = store.DropPrefix(g.id(), cut); !s.ok()) {
    LogWarning("n", ctx_->self(), " g", g.id(), " retention could not drop the log up to ", cut, ": ",
               s.message());
    return;
  }
  g.raft().Compact(cut);
  ++g.counters().truncations;
  g.Publish();
}

void Maintenance::TransferLeadership(const v1::TransferLeadershipRequest& req,
                                     std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done) {
  PartitionGroup* g = ctx_->groups->FindPartition(req.topic(), req.partition());
  if (g == nullptr) {
    return done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             absl::StrCat("partition ", req.topic(), "/", req.partition(), " is not hosted here")),
                {});
  }
  if (auto s = ctx_->CheckLeaderReady(*g); !s.ok()) return done(s, {});
  raft::NodeId target = req.target_node_id();
  const auto& voters = g->raft().conf().voters;
  if (target == 0) {
    raft::Index best = 0;
    for (const auto& p : g->raft().progress()) {
      if (p.id != ctx_->self() && !p.learner && p.match >= best) {
        best = p.match;
        target = p.id;
      }
    }
  }
  if (target == ctx_->self()) {
    v1::TransferLeadershipResponse resp;
    resp.set_leader_id(target);
    resp.set_term(g->raft().term());
    return done(grpc::Status::OK, resp);
  }
  if (target == 0 || std::find(voters.begin(), voters.end(), target) == voters.end()) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             absl::StrCat("node ", req.target_node_id(), " is not a replica of ", req.topic(), "/",
                                          req.partition(), "; replicas are ", absl::StrJoin(voters, ","))),
                {});
  }
  if (auto s = g->raft().TransferLeadership(target); !s.ok()) return done(ToGrpc(s), {});
  const auto timeout = ctx_->options->tick * ctx_->options->election_ticks * 3;
  g->transfers().push_back(PartitionGroup::Transfer{target, ctx_->clock->Now() + timeout, std::move(done)});
}

void Maintenance::CheckTransfers(PartitionGroup& g) {
  auto& transfers = g.transfers();
  if (transfers.empty()) return;
  const auto now = ctx_->clock->Now();
  auto keep = transfers.begin();
  for (auto& t : transfers) {
    if (g.raft().leader() == t.target) {
      v1::TransferLeadershipResponse resp;
      resp.set_leader_id(t.target);
      resp.set_term(g.raft().term());
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
  transfers.erase(keep, transfers.end());
}

void Maintenance::TransferAllLeadership() {
  ctx_->draining = true;
  ctx_->groups->ForEach([&](Group& g) {
    if (g.raft().role() != raft::Role::kLeader) return;
    raft::NodeId target = 0;
    raft::Index best = 0;
    for (const auto& p : g.raft().progress()) {
      if (p.id != ctx_->self() && !p.learner && p.recent_active && p.match >= best) {
        best = p.match;
        target = p.id;
      }
    }
    if (target != 0) (void)g.raft().TransferLeadership(target);
  });
}

void Maintenance::BalanceLeaders(Clock::TimePoint now) {
  const auto interval = ctx_->options->leader_balance_interval;
  if (interval.count() <= 0 || now < next_balance_) return;
  next_balance_ = now + interval;
  const internal::MetadataState& meta = ctx_->groups->metadata().machine().state();
  if (meta.leader_balancer_paused() || ctx_->draining) return;
  EvenPreferredLeaders();
  int moves = 0;
  for (auto& [id, g] : ctx_->groups->partitions()) {
    if (moves >= kMaxBalanceMoves) break;
    if (g->raft().role() != raft::Role::kLeader || !g->serving() || !g->transfers().empty()) continue;
    auto topic = meta.topics().find(g->topic());
    if (topic == meta.topics().end() || g->partition() >= static_cast<uint32_t>(topic->second.partitions_size())) {
      continue;
    }
    const auto& assignment = topic->second.partitions(static_cast<int>(g->partition()));
    if (assignment.target_replicas_size() > 0) continue;  // a move runs: its own steps place the leadership
    const auto& replicas = assignment.replicas();
    if (replicas.empty() || replicas[0] == ctx_->self()) continue;
    const raft::NodeId preferred = replicas[0];
    for (const auto& p : g->raft().progress()) {
      if (p.id != preferred || p.learner || !p.recent_active || !ctx_->Heard(p)) continue;
      if (p.match < g->raft().commit_index()) continue;
      if (g->raft().TransferLeadership(preferred).ok()) {
        ++moves;
        LogInfo("n", ctx_->self(), " balancer: moving the leadership of ", g->topic(), "/", g->partition(),
                " to its preferred replica n", preferred);
      }
    }
  }
}

void Maintenance::EvenPreferredLeaders() {
  MetadataGroup& group = ctx_->groups->metadata();
  if (evening_ || group.raft().role() != raft::Role::kLeader || !group.serving()) return;
  const internal::MetadataState& meta = group.machine().state();
  std::map<raft::NodeId, int> preferred;
  for (raft::NodeId n : ctx_->ActiveMembers()) preferred[n] = 0;
  for (const auto& [name, t] : meta.topics()) {
    for (const auto& p : t.partitions()) {
      if (!p.replicas().empty() && preferred.contains(p.replicas(0))) ++preferred[p.replicas(0)];
    }
  }
  raft::NodeId most = 0;
  for (const auto& [n, count] : preferred) {
    if (most == 0 || count > preferred[most]) most = n;
  }
  if (most == 0) return;
  // Of `most`'s partitions, the one whose other replica has the fewest preferred leaderships.
  uint64_t group_id = 0;
  raft::NodeId to = 0;
  for (const auto& [name, t] : meta.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.replicas().empty() || p.replicas(0) != most || p.target_replicas_size() > 0) continue;
      for (raft::NodeId r : p.replicas()) {
        if (!preferred.contains(r) || preferred[r] + 2 > preferred[most]) continue;
        if (to == 0 || preferred[r] < preferred[to]) {
          to = r;
          group_id = p.group_id();
        }
      }
    }
  }
  if (to == 0) return;
  internal::MetadataCommand cmd;
  cmd.mutable_set_preferred_leader()->set_group_id(group_id);
  cmd.mutable_set_preferred_leader()->set_node_id(to);
  evening_ = true;
  ctx_->ProposeMetadata(cmd, [this, group_id, to, most](const grpc::Status& s, const MetadataApplied* m) {
    evening_ = false;
    if (s.ok() && m->status.ok()) {
      LogInfo("n", ctx_->self(), " balancer: n", to, " is now the preferred leader of group ", group_id, " (was n",
              most, ", which had the most)");
    }
  });
}

void Maintenance::SetLeaderBalancer(bool paused,
                                    std::function<void(grpc::Status, v1::SetLeaderBalancerResponse)> done) {
  internal::MetadataCommand cmd;
  cmd.mutable_set_leader_balancer()->set_paused(paused);
  ctx_->ProposeMetadata(cmd, [this, done](const grpc::Status& s, const MetadataApplied*) {
    if (!s.ok()) return done(s, {});
    v1::SetLeaderBalancerResponse resp;
    resp.set_paused(ctx_->groups->metadata().machine().state().leader_balancer_paused());
    LogInfo("n", ctx_->self(), " controller: leader balancer ", resp.paused() ? "paused" : "resumed");
    done(grpc::Status::OK, resp);
  });
}

}  // namespace brook::server
