#include "server/host/leader_hints.h"

#include <algorithm>

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
  // Announcements of a member gone silent expire: forget them, and rebuild the view without them.
  if (std::erase_if(by_node_,
                    [&](const auto& n) { return now - n.second.at > kTtl && !n.second.groups.empty(); }) > 0) {
    ctx_->cluster_dirty = true;
  }
  // One batch per peer, naming only the led groups that peer holds no vote in: a voter learns its leader from the
  // group's own messages, so with as many nodes as replicas every announcement is empty.
  std::map<raft::NodeId, internal::MessageBatch> batches;
  for (raft::NodeId peer : ctx_->Peers()) batches[peer].set_leaders_announced(true);
  for (const auto& [id, g] : ctx_->groups->partitions()) {
    if (g->raft().role() != raft::Role::kLeader || !g->serving()) continue;
    const auto& voters = g->raft().conf().voters;
    for (auto& [peer, batch] : batches) {
      if (std::find(voters.begin(), voters.end(), peer) != voters.end()) continue;
      batch.add_led_groups(id);
      batch.add_led_terms(g->raft().term());
    }
  }
  for (auto& [peer, batch] : batches) ctx_->network->Send(peer, std::move(batch));
}

bool LeaderHints::any() const {
  return std::any_of(by_node_.begin(), by_node_.end(), [](const auto& n) { return !n.second.groups.empty(); });
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
