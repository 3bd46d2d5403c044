// One brookd node: storage, transport, the multi-Raft host, and the gRPC servers, started and stopped in order.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server.h"
#include "server/api/async.h"
#include "server/api/services.h"
#include "server/host/host.h"
#include "server/transport/tls.h"
#include "server/transport/transport.h"
#include "storage/store.h"

namespace brook::server {

class Metrics;
class HttpsFront;

struct NodeConfig {
  uint64_t node_id = 0;
  std::string cluster_id = "brook";
  std::string client_addr;
  std::string advertise_client_addr;  // what other nodes and clients are told; client_addr when empty
  std::string peer_addr;
  std::string metrics_addr;  // empty: no metrics endpoint
  // HTTPS on the metrics endpoint (server/metrics/https_front.h); both empty: plain HTTP.
  std::string metrics_tls_cert;
  std::string metrics_tls_key;
  std::string data_dir;
  std::map<uint64_t, std::string> initial_members;  // node id -> peer address
  // A member's node-to-node address to join a running cluster through (brookd --join); node_id is then 0 until
  // the controller gives one (or the data directory remembers it).
  std::string join;
  std::chrono::milliseconds join_timeout{120'000};
  std::string advertise_peer_addr;  // what the cluster records for this node; see brookd --advertise_peer_addr
  // The cluster secret every node shares: node-to-node streams are signed with it (server/transport/peer_auth.h).
  std::string cluster_secret;
  // TLS on the client port and mutual TLS on the node-to-node port (docs/security.md); off when empty.
  TlsConfig tls;
  // Client authentication, ACLs and quotas (docs/security.md); off by default.
  AccessConfig access;
  int tick_ms = 50;
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  bool quiesce_idle_groups = true;  // docs/decisions.md D13
  bool coalesce_produces = true;    // docs/decisions.md A21
  bool per_partition_metrics = true;
  bool direct_io_for_flush = true;  // storage::Options::direct_io_for_flush
  int retention_check_ms = 5000;
  int leader_balance_interval_ms = 10'000;
  uint64_t move_max_bytes_per_sec = 32ull << 20;
  // Key compaction (docs/operations.md "Compaction", server/host/context.h HostOptions).
  int compaction_check_ms = 1000;
  uint64_t compaction_min_dirty_records = 1000;
  int compaction_max_delay_ms = 600'000;
  int compaction_max_key_mb = 64;
  std::chrono::milliseconds shutdown_timeout{5000};
  // The client API's bounds (docs/operations.md "Limits"): HTTP/2 streams per connection, the gRPC memory quota,
  // idle connections, Subscribe streams at once and how long a Subscribe client may leave a message unread.
  int max_concurrent_streams = 256;
  int grpc_memory_mb = 1024;
  int max_connection_idle_ms = 600'000;
  int max_connection_age_ms = 3'600'000;
  int handshake_timeout_ms = 10'000;
  int max_subscriptions = 1024;
  int subscribe_write_timeout_ms = 60'000;
  // Free space kept in reserve on the data directory's filesystem (server/host/disk_guard.h); 0 turns it off.
  int disk_reserve_mb = 128;
  UnsafeBreak unsafe_break = UnsafeBreak::kNone;  // tests of the fault-injection checker only
};

// Parses "1=host:port,2=host:port". INVALID_ARGUMENT says what is wrong.
absl::StatusOr<std::map<uint64_t, std::string>> ParseMembers(absl::string_view spec);

class Node {
 public:
  explicit Node(NodeConfig config);
  ~Node();

  // Opens storage (checking that the data directory belongs to this node and cluster), starts the host loop,
  // the node-to-node server and transport, the client API server and the metrics endpoint.
  absl::Status Start();
  // Graceful stop (SIGTERM): stop taking requests, hand leadership away, finish in-flight work, close storage.
  void Shutdown();

  Host* host() { return host_.get(); }
  // This node's id: given, remembered by the data directory, or given by the cluster at --join (0 before).
  uint64_t id() const { return config_.node_id; }

 private:
  // This data directory's incarnation (created with it, random, never 0).
  absl::StatusOr<uint64_t> LoadIncarnation();
  // The steps of Start, in order.
  absl::Status OpenStore();
  // With --join: the id and members the data directory remembers, or (the first time) the controller's answer.
  absl::Status JoinCluster(uint64_t incarnation);
  absl::Status CheckIdentity();
  void StartTransport(uint64_t incarnation);
  absl::Status CreateHost();
  absl::Status ListenPeers();
  absl::Status ServeClients();
  void StartHealth();

  NodeConfig config_;
  bool joined_ = false;  // the data directory joined a running cluster (node meta "joined")
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Host> host_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Timers> timers_;
  ServiceContext context_;
  std::unique_ptr<v1::Log::CallbackService> log_service_;
  std::unique_ptr<v1::Admin::CallbackService> admin_service_;
  std::unique_ptr<v1::ConsumerGroups::CallbackService> groups_service_;
  std::unique_ptr<v1::Access::CallbackService> access_service_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<grpc::Server> peer_server_;
  std::unique_ptr<grpc::Server> client_server_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<HttpsFront> metrics_front_;  // --metrics_tls_cert: HTTPS in front of the exposer
  std::thread health_thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace brook::server
