// Node transport (docs/decisions.md D2): one long-lived gRPC client stream to each peer carrying batches of Raft
// messages for many groups, and the server side that receives the peers' streams.
//
// Each peer has its own sender thread and bounded queue, so a slow, paused or dead peer blocks only its own
// thread: when its queue exceeds kMaxQueuedBytes, new batches for it are dropped (Raft retransmits what matters).
// A broken stream is re-opened with exponential backoff (50 ms doubling to 1 s). Thread-safe.
#pragma once

#include <atomic>
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
#include "brook/internal/transport.grpc.pb.h"
#include "server/host/network.h"

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
};

class Transport final : public Network {
 public:
  struct Options {
    uint64_t self = 0;
    std::string cluster_id;
    std::string client_address;                      // advertised to peers
    std::string metrics_address;                     // advertised to peers
    std::map<uint64_t, std::string> peer_addresses;  // node id -> node-to-node address, self excluded
    // This node's incarnation (see MessageBatch.from_incarnation), the peers' as remembered (moved into the
    // Transport, which keeps them current), and how to remember
    // a peer's first one durably (called once per peer, on a gRPC thread, before its stream is accepted).
    uint64_t incarnation = 0;
    std::map<uint64_t, uint64_t> known_incarnations;
    std::function<absl::Status(uint64_t peer, uint64_t incarnation)> remember_incarnation;
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

  // Peer addresses learned from the peers' streams (client and metrics), and per-peer figures.
  std::map<uint64_t, std::string> client_addresses() const override;
  std::map<uint64_t, std::string> metrics_addresses() const override;
  const PeerStats* stats(uint64_t peer) const;
  bool reachable(uint64_t peer) const;
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

  Options options_;
  std::function<void(internal::MessageBatch&&)> deliver_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;
  std::unique_ptr<Receiver> receiver_;
  mutable std::mutex learned_mu_;
  std::map<uint64_t, std::string> client_addresses_;
  std::map<uint64_t, std::string> metrics_addresses_;
  std::atomic<bool> refused_{false};
  std::mutex incarnation_mu_;
  std::map<uint64_t, uint64_t> known_incarnations_;  // guarded by incarnation_mu_
};

}  // namespace brook::server
