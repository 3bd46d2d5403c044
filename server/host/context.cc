#include "server/host/context.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"

namespace brook::server {

grpc::Status HostContext::NotLeaderFor(const Group& g) const {
  raft::NodeId leader = g.raft().leader();
  if (leader == self()) leader = 0;  // leader but not ready: the caller reports it
  return NotLeaderStatus(g.topic(), g.partition(), leader, ClientAddressOf(leader), g.raft().term());
}

std::string HostContext::ClientAddressOf(raft::NodeId id) const {
  if (id == 0) return "";
  const auto& records = groups->metadata().machine().state().nodes();
  auto it = records.find(id);
  return it == records.end() ? "" : it->second.client_address();
}

grpc::Status HostContext::CheckLeaderReady(Group& g) const {
  g.NoteLeadership();
  if (g.raft().role() != raft::Role::kLeader) return NotLeaderFor(g);
  if (!g.serving()) {
    return RetryLater(grpc::StatusCode::UNAVAILABLE, "the new leader is applying earlier entries; retry shortly",
                      20);
  }
  if (g.broken()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        absl::StrCat("partition group ", g.id(), " stopped applying after a corrupt entry"));
  }
  return grpc::Status::OK;
}

std::vector<raft::NodeId> HostContext::Peers() const {
  std::set<raft::NodeId> out;
  const raft::ConfState& conf = groups->metadata().raft().conf();
  out.insert(conf.voters.begin(), conf.voters.end());
  out.insert(conf.learners.begin(), conf.learners.end());
  for (const auto& [id, address] : network->peer_addresses()) out.insert(id);
  out.erase(self());
  return {out.begin(), out.end()};
}

std::vector<raft::NodeId> HostContext::ActiveMembers() const {
  const MetadataGroup& meta = groups->metadata();
  const auto& conf = meta.raft().conf();
  std::vector<raft::NodeId> out;
  for (const auto* ids : {&conf.voters, &conf.learners}) {
    for (raft::NodeId n : *ids) {
      auto rec = meta.machine().state().nodes().find(n);
      if (rec == meta.machine().state().nodes().end() || rec->second.state() == v1::NODE_ACTIVE) out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void HostContext::ProposeMetadata(const internal::MetadataCommand& cmd, MetadataDone done) const {
  MetadataGroup& meta = groups->metadata();
  if (auto s = CheckLeaderReady(meta); !s.ok()) return done(s, nullptr);
  auto proposed = meta.raft().Propose(cmd.SerializeAsString(), 0);
  if (!proposed.ok()) {
    if (absl::IsFailedPrecondition(proposed.status())) return done(NotLeaderFor(meta), nullptr);
    return done(RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(proposed.status().message()), 50), nullptr);
  }
  meta.proposals().Add(
      proposed->index, proposed->term,
      [done = std::move(done)](const grpc::Status& s, const Proposals<MetadataApplied>::Committed* c) {
        done(s, c != nullptr ? &c->result : nullptr);
      });
}

}  // namespace brook::server
