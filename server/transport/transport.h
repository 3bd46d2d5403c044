// Node transport (docs/decisions.md D2): one long-lived gRPC client stream to each peer carrying batches of Raft
// messages for many groups, and the server side that receives the peers' streams.
//
// Each peer has its own sender thread and bounded queue, so a slow, paused or dead peer blocks only its own
// thread: when its queue exceeds kMaxQueuedBytes, new batches for it are dropped (Raft retransmits what matters).
// A broken stream is re-opened with exponential backoff (50 ms doubling to 1 s). Thread-safe.
//
// Trust (docs/security in docs/operations.md "Node-to-node security"): every stream is opened with a header signed
// by the cluster secret (peer_auth.h) and accepted only from a member of the cluster; it is then bound to that
// node, and a batch or message on it that claims another sender is dropped and counted. Streams use HTTP/2
// keepalives, so a link that holds bytes without resetting breaks the stream within seconds; a peer counts as
// reachable only when something was heard from it within `heard_window`.
//
// Members change while the node runs (docs/decisions.md A16): the host adds each node the metadata group admits
// (AddPeer) and removes each it records REMOVED (RemovePeer). A node joining the cluster calls Join on any member
// (JoinCluster, join.h); the service passes it to Options::join.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/internal/transport.grpc.pb.h"
#include "server/host/network.h"
#include "server/transport/tls.h"

namespace brook::server {

struct PeerStats {
  std::atomic<uint64_t> batches_sent{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> batches_dropped{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> batches_received{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<bool> connected{false};
  // Steady-clock ms when the last batch (or hello) from the peer arrived; 0 before the first.
  std::atomic<int64_t> last_heard_ms{0};
  // Streams from the peer that carried a batch and then ended: it closed them, or the connection broke.
  std::atomic<uint64_t> streams_ended{0};
};

// What the receiving side refused, since start.
struct TransportRejections {
  std::atomic<uint64_t> unauthenticated_streams{0};  // no or a wrong brook-peer-auth header
  std::atomic<uint64_t> non_member_streams{0};       // signed, but from a node that is not a member
  std::atomic<uint64_t> forged_batches{0};           // a batch claiming another sender, cluster or receiver
  std::atomic<uint64_t> forged_messages{0};          // a message whose sender is not the stream's node
};

class Transport final : public Network {
 public:
  struct Options {
    uint64_t self = 0;
    std::string cluster_id;
    std::string client_address;                      // advertised to peers
    std::string metrics_address;                     // advertised to peers
    std::map<uint64_t, std::string> peer_addresses;  // node id -> node-to-node address, self excluded
    // The cluster secret every node shares (peer_auth.h); streams are signed with it and verified against it.
    std::string secret;
    // Mutual TLS on node-to-node streams when enabled (tls.h): a stream is accepted only from a node whose
    // certificate names it, and a peer is dialled only if its certificate names the node meant.
    TlsConfig tls;
    // A peer is reachable when heard from within this window (the election timeout); hellos go out at a third
    // of it when there is nothing else to send.
    std::chrono::milliseconds heard_window{500};
    // This node's incarnation (see MessageBatch.from_incarnation), the peers' as remembered (moved into the
    // Transport, which keeps them current), and how to remember
    // a peer's first one durably (called once per peer, on a gRPC thread, before its stream is accepted).
    uint64_t incarnation = 0;
    std::map<uint64_t, uint64_t> known_incarnations;
    std::function<absl::Status(uint64_t peer, uint64_t incarnation)> remember_incarnation;
    // A peer's incarnation as stored, for a peer known_incarnations does not hold (one added by AddPeer); 0 when
    // none is stored.
    std::function<uint64_t(uint64_t peer)> recall_incarnation;
    // This node's own node-to-node address as the others reach it (peer_addresses() reports it).
    std::string peer_address;
    // Answers a new node's Join (NodeTransport.Join), after its signed header checked out; `done` may run on any
    // thread. Unset: Join is UNAVAILABLE.
    using JoinDone = std::function<void(grpc::Status, internal::JoinResponse)>;
    std::function<void(const internal::JoinRequest&, JoinDone)> join;
  };
  // `deliver` receives every batch from a peer of this cluster, on a gRPC thread; it must not block for long.
  Transport(Options options, std::function<void(internal::MessageBatch&&)> deliver);
  ~Transport() override;

  void Start();
  void Stop();  // Closes the streams and joins the sender threads.

  // Queues `batch` for `to`. Never blocks on the network.
  void Send(uint64_t to, internal::MessageBatch batch) override;

  // The server side, to register on the node-to-node gRPC server.
  grpc::Service* service();

  // Peer addresses as the peers advertise them on their streams (client and metrics; only the controller reads
  // them, to record them in the metadata group: server/host/members.h), and per-peer figures.
  std::map<uint64_t, std::string> client_addresses() const override;
  std::map<uint64_t, std::string> metrics_addresses() const override;
  const PeerStats* stats(uint64_t peer) const;
  // Membership changes the metadata group records (any thread): a new member gets a sender and may open streams
  // here; a removed one loses both. A peer known already keeps its address.
  void AddPeer(uint64_t id, const std::string& address) override;
  void RemovePeer(uint64_t id) override;
  std::map<uint64_t, std::string> peer_addresses() const override;
  const TransportRejections& rejections() const { return rejections_; }
  // Heard from within heard_window (this node is always reachable to itself).
  bool reachable(uint64_t peer) const;
  uint64_t streams_ended(uint64_t peer) const override {
    const PeerStats* s = stats(peer);
    return s == nullptr ? 0 : s->streams_ended.load(std::memory_order_relaxed);
  }
  // A peer refused this node's streams (FAILED_PRECONDITION: another cluster, or it remembers another incarnation
  // of this node). Permanent for this process: neither changes while it runs.
  bool refused() const override { return refused_.load(std::memory_order_relaxed); }

  // OK if `incarnation` is the one remembered for `peer` (remembering it if none is); FAILED_PRECONDITION with
  // what to do if the peer came back with another data directory. 0 (a peer that does not send one) passes.
  absl::Status CheckIncarnation(uint64_t peer, uint64_t incarnation);

  static constexpr uint64_t kMaxQueuedBytes = 64 << 20;

 private:
  class Peer;
  class Receiver;
  void Learn(const internal::MessageBatch& batch);
  // The member a new stream's signed header names, or why it is refused.
  absl::StatusOr<uint64_t> Authenticate(const grpc::CallbackServerContext& context);
  // Checks a batch of a stream bound to `from` (cluster, addressee, sender; on the first, the incarnation) and
  // drops its messages that claim another sender.
  grpc::Status Admit(uint64_t from, internal::MessageBatch& batch, bool checked);

  // The peer's sender, or nullptr for a node that is not (or no longer) a member.
  Peer* FindPeer(uint64_t id) const;
  // Checks a Join's signed header (node 0 to the request's incarnation).
  absl::Status AuthenticateJoin(const grpc::CallbackServerContext& context, const internal::JoinRequest& req);

  Options options_;
  std::function<void(internal::MessageBatch&&)> deliver_;
  // Senders by peer; only grows (a removed peer's sender is stopped and kept, so pointers to it stay valid).
  mutable std::mutex peers_mu_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;  // guarded by peers_mu_
  std::map<uint64_t, std::string> peer_addresses_;   // guarded by peers_mu_: members only
  bool started_ = false;                             // guarded by peers_mu_
  std::unique_ptr<Receiver> receiver_;
  mutable std::mutex learned_mu_;
  std::map<uint64_t, std::string> client_addresses_;
  std::map<uint64_t, std::string> metrics_addresses_;
  std::atomic<bool> refused_{false};
  TransportRejections rejections_;
  std::mutex incarnation_mu_;
  std::map<uint64_t, uint64_t> known_incarnations_;  // guarded by incarnation_mu_
};

}  // namespace brook::server
