// What the host needs from the node-to-node transport: a port the host defines and the transport implements
// (server/transport/transport.h over gRPC streams; host/testing/fake_network.h in-process for the host tests).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "brook/internal/transport.pb.h"

namespace brook::server {

class Network {
 public:
  virtual ~Network() = default;
  // Queues `batch` (Raft messages of many groups) for node `to`. Any thread; never blocks on the network; may
  // drop the batch (Raft resends what matters).
  virtual void Send(uint64_t to, internal::MessageBatch batch) = 0;
  // Client API and metrics addresses of the nodes, this one included, as each advertises them on its own
  // authenticated stream. Only the controller reads them, to record them in the metadata group
  // (server/host/members.h); clients are answered from those records. Any thread.
  virtual std::map<uint64_t, std::string> client_addresses() const = 0;
  virtual std::map<uint64_t, std::string> metrics_addresses() const = 0;
  // A peer refused this node (it came back with a data directory its peers do not know): never ready.
  virtual bool refused() const = 0;
  // Members as the metadata group records them (server/host/admission.h): a node admitted with --join is added,
  // a removed node removed. Any thread. The in-process test network keeps every node it was built with.
  virtual void AddPeer(uint64_t /*id*/, const std::string& /*address*/) {}
  virtual void RemovePeer(uint64_t /*id*/) {}
  // Node-to-node addresses of the members, this one included (the controller records them).
  virtual std::map<uint64_t, std::string> peer_addresses() const { return {}; }
  // How many streams from `peer` have ended after carrying something (it closed them, or the connection broke).
  // A killed process's sockets close at once, so this moves well before its silence could be noticed. Any thread.
  virtual uint64_t streams_ended(uint64_t /*peer*/) const { return 0; }
};

}  // namespace brook::server
