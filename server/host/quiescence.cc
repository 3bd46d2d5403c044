#include "server/host/quiescence.h"

namespace brook::server {

void Quiescence::Tick(Clock::TimePoint now) {
  NoteStreamEnds(now);
  if (!ctx_->options->quiesce_idle_groups) {
    ctx_->groups->ForEach([](Group& g) { g.raft().Tick(); });
    return;
  }
  const auto live = [&](raft::NodeId n) { return Alive(n, now); };
  WakeSleepers(now);
  ctx_->groups->ForEachAwake([&](Group& g) {
    raft::RaftNode& r = g.raft();
    if (r.quiesced()) {
      if (r.role() == raft::Role::kLeader) {
        if (!LaggardBack(g.id(), r, now)) return;
        r.Unquiesce();  // a lagging member's node is back
      } else {
        if (Alive(r.leader(), now)) return;
        r.WakeLeaderSilent();  // the leader's node went silent for an election timeout
      }
    }
    if (!lagging_.empty()) lagging_.erase(g.id());
    r.Tick();
    if (!r.CanQuiesce(live)) {
      idle_.erase(g.id());
      return;
    }
    if (++idle_[g.id()] < idle_ticks()) return;
    idle_.erase(g.id());
    r.Quiesce(live);
    if (r.quiesced() && !r.AllCaughtUp()) lagging_.insert(g.id());
  });
}

void Quiescence::WakeSleepers(Clock::TimePoint now) {
  // Quiet leaders whose lagging member's node is back.
  for (auto it = lagging_.begin(); it != lagging_.end();) {
    Group* g = ctx_->groups->Find(*it);
    if (g == nullptr || !g->raft().quiesced()) {
      lagging_.erase(it++);
      continue;
    }
    if (g->asleep && LaggardBack(g->id(), g->raft(), now)) g->raft().Unquiesce();  // wakes it
    ++it;
  }
  // Followers whose leader's node fell silent: looked for when a node turns silent, and once per election timeout
  // while any is (a sleeping group is not walked otherwise). Awake ones too: a node seen down by its stream's end
  // is down before their election clocks run out.
  std::set<uint64_t> silent;
  const raft::ConfState& members = ctx_->groups->metadata().raft().conf();
  for (const auto* ids : {&members.voters, &members.learners}) {
    for (raft::NodeId n : *ids) {
      if (!Alive(n, now)) silent.insert(n);
    }
  }
  if (silent.empty()) {
    silent_.clear();
    return;
  }
  if (silent == silent_ && now < next_sweep_) return;
  silent_ = std::move(silent);
  next_sweep_ = now + ctx_->options->tick * ctx_->options->election_ticks;
  ctx_->groups->ForEach([&](Group& g) {
    raft::RaftNode& r = g.raft();
    if (r.role() == raft::Role::kFollower && silent_.contains(r.leader())) r.WakeLeaderSilent();
  });
}

bool Quiescence::LaggardBack(uint64_t group, const raft::RaftNode& r, Clock::TimePoint now) const {
  if (!lagging_.contains(group)) return false;
  for (const auto& p : r.progress()) {
    if (p.match < r.last_index() && Alive(p.id, now)) return true;
  }
  return false;
}

void Quiescence::Beat(Clock::TimePoint now) {
  if (now < next_beat_) return;
  next_beat_ = now + ctx_->options->tick * ctx_->options->heartbeat_ticks;
  internal::MessageBatch beat;
  beat.set_liveness_beat(true);
  for (raft::NodeId peer : ctx_->Peers()) ctx_->network->Send(peer, beat);
}

void Quiescence::NoteStreamEnds(Clock::TimePoint now) {
  for (raft::NodeId n : ctx_->Peers()) {
    const uint64_t count = ctx_->network->streams_ended(n);
    StreamEnd& e = ended_[n];
    if (count != e.count) e = StreamEnd{count, now};
  }
}

bool Quiescence::Alive(uint64_t node, Clock::TimePoint now) const {
  const Clock::Duration timeout = ctx_->options->tick * ctx_->options->election_ticks;
  if (node == ctx_->self() || now - started_ < timeout) return true;
  auto it = heard_.find(node);
  if (it == heard_.end() || now - it->second >= timeout) return false;
  // Its stream ended and nothing came after for a heartbeat interval and a tick: gone.
  auto e = ended_.find(node);
  const Clock::Duration grace = ctx_->options->tick * (ctx_->options->heartbeat_ticks + 1);
  return e == ended_.end() || e->second.at == Clock::TimePoint{} || it->second > e->second.at ||
         now - e->second.at < grace;
}

}  // namespace brook::server
