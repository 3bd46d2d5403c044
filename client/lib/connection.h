// A client's view of a Brook cluster: channels to its nodes, the routing metadata cache, and the one retry loop
// that every unary call goes through.
//
// Routing (docs/api.md "Finding the leader"): GetMetadata from any node fills the cache; a call that needs a
// partition leader goes to the cached leader; a NotLeader detail that names a leader is followed at once, without
// backoff; a NotLeader without one, UNAVAILABLE, RESOURCE_EXHAUSTED and (for idempotent calls) DEADLINE_EXCEEDED
// are retried with exponential backoff and jitter (at least RetryInfo's delay) until the call's deadline;
// NOT_FOUND on a partition call refreshes the cache once (the topic may have been recreated) and is then final;
// INVALID_ARGUMENT, FAILED_PRECONDITION and the other codes are never retried.
//
// Thread-safe: one Connection is shared by any number of producers, consumers and admins (shared ownership,
// hence shared_ptr). Calls block the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "brook/v1/access.grpc.pb.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/groups.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "client/lib/backoff.h"
#include "client/lib/record_accumulator.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"

namespace brook::client {

struct ClientOptions {
  // host:port of one or more nodes' client addresses. Any reachable one is enough; the rest are learned.
  std::vector<std::string> bootstrap;
  // Longest single attempt of a call (each retry gets a fresh one, within the call's overall deadline).
  std::chrono::milliseconds request_timeout{10000};
  // Overall deadline of a call made through the blocking APIs (Admin, Consumer), retries included.
  std::chrono::milliseconds call_timeout{30000};
  BackoffOptions backoff;
  // Largest message the client accepts (a Fetch answers up to 16 MiB of records by default).
  int max_receive_message_bytes = 64 * 1024 * 1024;
  // TLS (docs/security.md): PEM of the CA that signed the nodes' certificates; empty: plaintext. With a CA, the
  // node's certificate must name the host the client dials (a DNS name or IP of the bootstrap address). A
  // certificate and key of the client's own are presented when given.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer token (docs/security.md "Authentication"): sent as 'authorization: Bearer <token>' on every call;
  // empty: none. Send tokens over TLS only, outside tests on loopback.
  std::string token;
};

// Parses "host:port,host:port" (spaces ignored). Empty entries are skipped.
std::vector<std::string> ParseBootstrap(std::string_view list);

// gRPC takes deadlines on the system clock only; the client measures time on the steady clock.
void SetDeadline(grpc::ClientContext* context, Clock::time_point deadline);

// Where a call must go.
struct Route {
  enum class Target { kAnyNode, kController, kPartitionLeader, kGroupCoordinator };
  Target target = Target::kAnyNode;
  std::string topic;       // kPartitionLeader; kGroupCoordinator: the internal topic __consumer_groups
  uint32_t partition = 0;  // kPartitionLeader; kGroupCoordinator: the group's coordinator partition

  static Route AnyNode() { return {}; }
  static Route Controller() { return {Target::kController, "", 0}; }
  static Route Leader(std::string topic, uint32_t partition) {
    return {Target::kPartitionLeader, std::move(topic), partition};
  }
  // The leader of the group's coordinator partition (docs/api.md "Consumer groups"); any node while it is not
  // known (a node that does not coordinate the group answers NotLeader naming the one that does).
  static Route Coordinator(const std::string& group);
};

inline constexpr char kGroupsTopic[] = "__consumer_groups";
// Partitions of __consumer_groups (Limits.group_coordinator_partitions).
inline constexpr uint32_t kGroupCoordinatorPartitions = 8;
// The coordinator partition of `group`: FNV-1a (32 bits) of its bytes mod kGroupCoordinatorPartitions.
uint32_t CoordinatorPartition(const std::string& group);

// The stubs of one node. Stable address for the life of the Connection; gRPC stubs are thread-safe.
struct NodeStubs {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Log::Stub> log;
  std::unique_ptr<v1::Admin::Stub> admin;
  std::unique_ptr<v1::ConsumerGroups::Stub> groups;
  std::unique_ptr<v1::Access::Stub> access;
};

class Connection {
 public:
  static absl::StatusOr<std::shared_ptr<Connection>> Create(ClientOptions options);
  explicit Connection(ClientOptions options);

  const ClientOptions& options() const { return options_; }
  Clock::time_point DefaultDeadline() const { return Clock::now() + options_.call_timeout; }

  // Stubs for a node, created on first use. Never null.
  NodeStubs* Stubs(const std::string& address);

  // One attempt of a call: fill the context's deadline-free fields if needed, call the stub, return its status.
  using Attempt = absl::FunctionRef<grpc::Status(grpc::ClientContext* context, NodeStubs* node)>;
  // Runs `attempt` against the node `route` names, following the retry rules above, until it succeeds, fails
  // for good, or `deadline` passes. `idempotent` allows retrying a DEADLINE_EXCEEDED attempt.
  absl::Status Call(const Route& route, Clock::time_point deadline, bool idempotent, Attempt attempt);

  // Metadata cache. Topic() answers from the cache, fetching the topic first when it is not cached (or when
  // `refresh`); NOT_FOUND when the cluster has no such topic.
  absl::StatusOr<v1::Topic> Topic(const std::string& topic, Clock::time_point deadline, bool refresh = false);
  // Fetches metadata for `topics` (all topics when empty) from any node and replaces the cached entries.
  absl::StatusOr<v1::GetMetadataResponse> RefreshMetadata(const std::vector<std::string>& topics,
                                                          Clock::time_point deadline);
  // The cached leader's client address, "" when unknown.
  std::string LeaderAddress(const std::string& topic, uint32_t partition);
  std::string ControllerAddress();
  // Applies a NotLeader hint unless the cache holds a newer term.
  void LearnLeader(const v1::NotLeader& hint);
  // Marks a partition's (or the controller's, topic "") leader unknown after its node failed to answer.
  void ForgetLeader(const std::string& topic, uint32_t partition);
  // Every address worth trying for a node-agnostic call: known nodes first, then the bootstrap list.
  std::vector<std::string> NodeAddresses();

 private:
  std::string AddressOfLocked(uint64_t node_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the TLS files of the options into credentials_ (plaintext without a CA).
  absl::Status LoadTls();
  void SleepUntil(Clock::time_point t);

  const ClientOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_ = grpc::InsecureChannelCredentials();
  const std::string authorization_;  // "Bearer <token>"
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<NodeStubs>> stubs_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> node_addresses_ ABSL_GUARDED_BY(mu_);  // node id -> client address
  std::map<std::string, v1::Topic> topics_ ABSL_GUARDED_BY(mu_);
  uint64_t controller_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string controller_hint_ ABSL_GUARDED_BY(mu_);  // from a NotLeader for topic ""
  uint64_t next_node_ ABSL_GUARDED_BY(mu_) = 0;       // rotates node-agnostic calls
};

}  // namespace brook::client
