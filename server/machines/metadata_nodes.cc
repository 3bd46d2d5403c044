// Member node records (RegisterNode, AdmitNode): docs/decisions.md A13 and A16.
#include "absl/strings/str_cat.h"
#include "server/common/limits.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {

absl::Status MetadataMachine::CheckAddresses(const internal::NodeRecord& node) {
  for (const std::string* a : {&node.client_address(), &node.metrics_address(), &node.peer_address()}) {
    if (a->size() > Limits::kMaxAddressBytes) {
      return absl::InvalidArgumentError(absl::StrCat("an address of node ", node.node_id(), " is longer than ",
                                                     Limits::kMaxAddressBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

void MetadataMachine::RegisterNode(const internal::NodeRecord& node, MetadataApplied& out) {
  if (node.node_id() == 0) {
    out.status = absl::InvalidArgumentError("node id 0 is not a node");
    return;
  }
  if (out.status = CheckAddresses(node); !out.status.ok()) return;
  if (!state_.nodes().contains(node.node_id()) &&
      static_cast<uint32_t>(state_.nodes_size()) >= Limits::kMaxNodesPerCluster) {
    out.status = absl::ResourceExhaustedError(
        absl::StrCat("the cluster holds ", state_.nodes_size(), " node records, its limit"));
    return;
  }
  internal::NodeRecord& rec = (*state_.mutable_nodes())[node.node_id()];
  const v1::NodeState state = rec.state();  // only Decommission, SetNodeState and AdmitNode change it
  if (state == v1::NODE_REMOVED) {
    out.status = absl::FailedPreconditionError(absl::StrCat("node ", node.node_id(), " was removed"));
    return;
  }
  const std::string peer = node.peer_address().empty() ? rec.peer_address() : node.peer_address();
  const uint64_t incarnation = rec.incarnation();
  rec = node;
  rec.set_state(state);
  rec.set_peer_address(peer);
  rec.set_incarnation(incarnation);
}

void MetadataMachine::AdmitNode(const internal::MetadataCommand::AdmitNode& cmd, MetadataApplied& out) {
  const internal::NodeRecord& node = cmd.node();
  if (node.incarnation() == 0) {
    out.status = absl::InvalidArgumentError("a joining node needs an incarnation");
    return;
  }
  if (out.status = CheckAddresses(node); !out.status.ok()) return;
  uint64_t next = std::max<uint64_t>({state_.next_node_id(), cmd.min_node_id(), 1});
  for (const auto& [id, rec] : state_.nodes()) {
    next = std::max(next, id + 1);
    if (rec.incarnation() != node.incarnation()) continue;
    if (rec.state() == v1::NODE_REMOVED) {
      out.status = absl::FailedPreconditionError(
          absl::StrCat("this data directory joined as node ", id,
                       ", which was removed from the cluster; start the node with an empty data directory"));
      return;
    }
    out.node_id = id;  // the same node asking again
    return;
  }
  if (static_cast<uint32_t>(state_.nodes_size()) >= Limits::kMaxNodesPerCluster) {
    out.status = absl::ResourceExhaustedError(
        absl::StrCat("the cluster holds ", state_.nodes_size(), " node records, its limit"));
    return;
  }
  internal::NodeRecord& rec = (*state_.mutable_nodes())[next];
  rec = node;
  rec.set_node_id(next);
  rec.set_state(v1::NODE_JOINING);
  state_.set_next_node_id(next + 1);
  out.node_id = next;
}

}  // namespace brook::server
