// The public gRPC services of a node (brook.v1 Log, Admin, ConsumerGroups) on gRPC's callback API: no thread is
// held per call. Produce, admin changes and group offsets go through the host loop; Fetch, Subscribe,
// ListOffsets and metadata reads are served from the published views and storage on gRPC's threads, and long-polls
// wait on the partition's waiter list, not on a thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/groups.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "server/async.h"
#include "server/host.h"

namespace brook::server {

class ApiMetrics;

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
  // Active Subscribe streams (for metrics and shutdown).
  std::atomic<int> subscriptions{0};
};

std::unique_ptr<v1::Log::CallbackService> MakeLogService(ServiceContext* ctx);
std::unique_ptr<v1::Admin::CallbackService> MakeAdminService(ServiceContext* ctx);
std::unique_ptr<v1::ConsumerGroups::CallbackService> MakeGroupsService(ServiceContext* ctx);

}  // namespace brook::server
