// The public gRPC services of a node (brook.v1 Log, Admin, ConsumerGroups) on gRPC's callback API: no thread is
// held per call. Produce, admin changes and group offsets go through the host loop; Fetch, Subscribe,
// ListOffsets and metadata reads are served from the published views and storage on gRPC's threads, and long-polls
// wait on the partition's waiter list, not on a thread. One file per service: log_service.cc (with subscribe.cc),
// admin_service.cc, groups_service.cc, access_service.cc; what they share is in call_support.h.
#pragma once

#include <memory>

#include "brook/v1/access.grpc.pb.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/groups.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "server/api/call_support.h"

namespace brook::server {

std::unique_ptr<v1::Log::CallbackService> MakeLogService(ServiceContext* ctx);
std::unique_ptr<v1::Admin::CallbackService> MakeAdminService(ServiceContext* ctx);
std::unique_ptr<v1::ConsumerGroups::CallbackService> MakeGroupsService(ServiceContext* ctx);
std::unique_ptr<v1::Access::CallbackService> MakeAccessService(ServiceContext* ctx);

}  // namespace brook::server
