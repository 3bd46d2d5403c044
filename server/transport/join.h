// A new node's side of admission (brookd --join; docs/operations.md "Adding a node"): it asks any member to admit
// it, is sent on to the controller, and gets its node id and the members' node-to-node addresses.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "brook/internal/transport.pb.h"
#include "server/transport/tls.h"

namespace brook::server {

// Calls NodeTransport.Join on `address` (host:port of any member's node-to-node port), signed with `secret`, and
// follows the answer to the controller, until a node id comes back or `timeout` passes. A refusal the joining
// node must fix (wrong secret or cluster id, a removed data directory, the cluster full) ends it at once with the
// member's message; an unreachable member or a cluster without a controller is asked again every 500 ms.
absl::StatusOr<internal::JoinResponse> JoinCluster(const std::string& address, const std::string& secret,
                                                   const internal::JoinRequest& request,
                                                   std::chrono::milliseconds timeout, const TlsConfig& tls = {});

}  // namespace brook::server
