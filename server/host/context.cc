#include "server/host/context.h"

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"

namespace brook::server {

grpc::Status HostContext::NotLeaderFor(const Group& g) const {
  raft::NodeId leader = g.raft().leader();
  if (leader == self()) leader = 0;  // leader but not ready: the caller reports it
  std::string address;
  if (leader != 0) {
    auto addresses = network->client_addresses();
    if (auto it = addresses.find(leader); it != addresses.end()) address = it->second;
  }
  return NotLeaderStatus(g.topic(), g.partition(), leader, address, g.raft().term());
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

}  // namespace brook::server
