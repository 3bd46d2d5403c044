#include "server/host/leader_hints.h"

#include "server/common/limits.h"

namespace brook::server {

bool LeaderHints::OnAnnouncement(const internal::MessageBatch& batch, Clock::TimePoint now) {
  if (!batch.leaders_announced() || batch.from_node() == ctx_->self()) return false;
  Announced next;
  next.at = now;
  const int n = std::min(
      {batch.led_groups_size(), batch.led_terms_size(), static_cast<int>(Limits::kMaxPartitionsPerCluster)});
  for (int i = 0; i < n; ++i) next.groups[batch.led_groups(i)] = batch.led_terms(i);
  Announced& before = by_node_[batch.from_node()];
  const bool changed = before.groups != next.groups;
  before = std::move(next);
  return changed;
}

void LeaderHints::Announce(Clock::TimePoint now) {
  if (now < next_) return;
  next_ = now + kInterval;
  internal::MessageBatch batch;
  batch.set_leaders_announced(true);
  for (const auto& [id, g] : ctx_->groups->partitions()) {
    if (g->raft().role() != raft::Role::kLeader || !g->serving()) continue;
    batch.add_led_groups(id);
    batch.add_led_terms(g->raft().term());
  }
  for (const auto& [peer, address] : ctx_->network->peer_addresses()) {
    if (peer != ctx_->self()) ctx_->network->Send(peer, batch);
  }
}

std::map<uint64_t, LeaderHints::Hint> LeaderHints::Current(Clock::TimePoint now) const {
  std::map<uint64_t, Hint> out;
  for (const auto& [node, announced] : by_node_) {
    if (now - announced.at > kTtl) continue;
    for (const auto& [group, term] : announced.groups) {
      Hint& h = out[group];
      if (term > h.term) h = Hint{node, term};
    }
  }
  return out;
}

}  // namespace brook::server
