// What every public service call shares: the node context the services run against, and the first checks and
// waits of a call (is the node taking requests, where is the partition, wait for a watermark with a deadline).
// Any thread (gRPC's callback threads and the services' executor).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "grpcpp/grpcpp.h"
#include "server/api/access.h"
#include "server/api/async.h"
#include "server/host/host.h"

namespace brook::server {

// The Subscribe streams of a node, so that a stream whose client stopped reading can be cut (a slow consumer holds
// one response of up to max_bytes in memory for as long as it does not read). Thread-safe.
class SubscriptionRegistry {
 public:
  // What the registry needs of a stream: when its pending write started (0: none pending) and how to cancel it.
  struct Stream {
    std::atomic<int64_t> write_started_ms{0};
    grpc::CallbackServerContext* context = nullptr;
  };
  void Add(Stream* s);
  // After Remove returns, the registry no longer touches `s`.
  void Remove(Stream* s);
  // Cancels every stream whose write has been pending for longer than `timeout`; returns how many.
  int CancelStalled(int64_t now_ms, int64_t timeout_ms);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::set<Stream*> streams_;  // guarded by mu_
};

// What every service needs. All pointers outlive the services.
struct ServiceContext {
  Host* host = nullptr;
  storage::Store* store = nullptr;
  Executor* executor = nullptr;
  Timers* timers = nullptr;
  raft::NodeId self = 0;
  std::string cluster_id;
  // Whether this node has a working connection to a peer (DescribeCluster).
  std::function<bool(uint64_t)> reachable;
  // False once shutdown begins: new calls get UNAVAILABLE.
  std::atomic<bool> accepting{true};
  // Active Subscribe streams (for metrics and shutdown), and the streams themselves (slow-consumer timeout).
  std::atomic<int> subscriptions{0};
  SubscriptionRegistry streams;
  // Subscribe streams a node serves at once (brookd --max_subscriptions); past it RESOURCE_EXHAUSTED.
  int max_subscriptions = 1024;
  // A Subscribe stream whose client has not read its pending message for this long is cancelled
  // (brookd --subscribe_write_timeout_ms).
  int64_t subscribe_write_timeout_ms = 60'000;
  // Slow-consumer cancellations, for metrics.
  std::atomic<uint64_t> stalled_subscriptions_cancelled{0};
  // Authentication, ACLs and quotas (access.h); nullptr: none (every call allowed, no quotas).
  AccessControl* access = nullptr;
};

// Who made the call: UNAUTHENTICATED when authentication is on and it carries nothing valid.
grpc::Status Authenticated(const ServiceContext& ctx, const grpc::CallbackServerContext* call, Principal* who);
// Who made the call (UNAUTHENTICATED when authentication is on and it carries nothing valid), and whether it may
// do `action` to the resource (PERMISSION_DENIED + AccessDenied when not). `who` gets the principal.
grpc::Status Allow(const ServiceContext& ctx, const grpc::CallbackServerContext* call, v1::AclAction action,
                   v1::AclResourceType type, std::string_view name, Principal* who = nullptr);
// Whether the caller `who` may `action` the resource (for lists: what it may not describe is left out).
bool Allows(const ServiceContext& ctx, const Principal& who, v1::AclAction action, v1::AclResourceType type,
            std::string_view name);

// UNAVAILABLE + RetryInfo: the node is shutting down.
grpc::Status ShuttingDown();
// The first checks of a call that changes state: the node still takes requests, and the request is valid.
grpc::Status Admit(const ServiceContext& ctx, grpc::Status validation);
// Finishes a unary call with `status` and returns its reactor (for `return Reject(reactor, s);`).
grpc::ServerUnaryReactor* Reject(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);
// For calls that write (Produce, CommitOffsets, CreateTopic, DeleteTopic): finish with `status`, which, when it is
// an error that does not already say (proposals lost after proposing say UNKNOWN), was answered before anything
// was proposed: WriteOutcome NOT_WRITTEN.
void FinishWrite(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);
grpc::ServerUnaryReactor* RejectWrite(grpc::ServerUnaryReactor* reactor, const grpc::Status& status);
// Resolves (topic, partition) to the partition's view on this node, or the status that says why not (NOT_FOUND,
// or NotLeader naming a replica when this node holds none).
grpc::Status FindView(const ServiceContext& ctx, const std::string& topic, uint32_t partition,
                      std::shared_ptr<PartitionView>* out);
// UNAVAILABLE (retry on another node) once the node is stopping; NOT_FOUND once the partition's topic was deleted.
grpc::Status CheckView(const PartitionView& view);
// The reactor of a unary call that may long-poll (Fetch): when the client cancels, the wait in progress ends at
// once (its `then` runs as on a timeout and finishes the call), so a cancelled long-poll does not hold the call,
// its timer and its watermark waiter until its deadline. Deletes itself when gRPC is done with the call.
class LongPollReactor final : public grpc::ServerUnaryReactor {
 public:
  // Makes `end` the way to end the current wait early; runs it at once if the call is already cancelled.
  void OnCancelEnd(std::function<void()> end);
  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  std::mutex mu_;
  bool cancelled_ = false;     // guarded by mu_
  std::function<void()> end_;  // guarded by mu_
};

// A one-shot wait for a partition's watermark to pass an offset, bounded by a deadline. `then` runs once, on the
// executor, with true if the watermark passed (or the partition was deleted) and false on timeout, or on the
// client's cancel when `reactor` is given.
void WaitForWatermark(ServiceContext* ctx, std::shared_ptr<PartitionView> view, uint64_t offset,
                      std::chrono::steady_clock::time_point deadline, std::function<void(bool)> then,
                      LongPollReactor* reactor = nullptr);

}  // namespace brook::server
