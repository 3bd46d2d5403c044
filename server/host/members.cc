#include "server/host/members.h"

#include "server/common/log.h"

namespace brook::server {
namespace {

std::string Find(const std::map<uint64_t, std::string>& m, raft::NodeId id) {
  auto it = m.find(id);
  return it == m.end() ? "" : it->second;
}

}  // namespace

void Members::Register(Clock::TimePoint now) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (meta.raft().role() != raft::Role::kLeader || !meta.serving()) return;
  const auto client = ctx_->network->client_addresses();
  const auto metrics = ctx_->network->metrics_addresses();
  const auto peers = ctx_->network->peer_addresses();
  const auto& conf = meta.raft().conf();
  std::set<raft::NodeId> members(conf.voters.begin(), conf.voters.end());
  members.insert(conf.learners.begin(), conf.learners.end());
  const auto& records = meta.machine().state().nodes();
  for (raft::NodeId id : members) {
    std::string c = Find(client, id), m = Find(metrics, id);
    if (c.empty()) continue;  // not heard from yet
    auto rec = records.find(id);
    // The peer address is recorded once (from --initial_members, or the node's Join) and kept.
    const std::string p = rec != records.end() && !rec->second.peer_address().empty() ? "" : Find(peers, id);
    if (rec != records.end() && rec->second.client_address() == c && rec->second.metrics_address() == m &&
        p.empty()) {
      continue;
    }
    if (in_flight_.contains(id) || now < next_try_[id]) continue;
    internal::MetadataCommand cmd;
    internal::NodeRecord* node = cmd.mutable_register_node()->mutable_node();
    node->set_node_id(id);
    node->set_client_address(c);
    node->set_metrics_address(m);
    node->set_peer_address(p);
    node->set_updated_ms(ctx_->NowMs());
    if (rec != records.end()) {
      LogInfo("n", ctx_->self(), " controller: n", id, " now advertises client ", c, ", metrics ", m, " (was ",
              rec->second.client_address(), ", ", rec->second.metrics_address(), ")");
    }
    in_flight_.insert(id);
    next_try_[id] = now + kRetryInterval;
    ctx_->ProposeMetadata(cmd, [this, id](const grpc::Status& s, const MetadataApplied* applied) {
      in_flight_.erase(id);
      if (!s.ok() || applied == nullptr || !applied->status.ok()) {
        LogWarning("n", ctx_->self(), " controller: recording n", id,
                   "'s addresses failed: ", !s.ok() ? s.error_message() : std::string(applied->status.message()));
      }
    });
  }
}

bool Members::SelfRegistered() const {
  const auto& records = ctx_->groups->metadata().machine().state().nodes();
  auto it = records.find(ctx_->self());
  return it != records.end() &&
         it->second.client_address() == Find(ctx_->network->client_addresses(), ctx_->self()) &&
         it->second.metrics_address() == Find(ctx_->network->metrics_addresses(), ctx_->self());
}

}  // namespace brook::server
