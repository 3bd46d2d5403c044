// The client API's call metrics: a gRPC server interceptor that counts every brook.v1 call by method and status
// code, with its latency and bytes (docs/metrics.md "API"). Health checks and reflection are not counted; a method
// the services do not have is counted as "unknown", so made-up names cannot create series. gRPC threads.
#pragma once

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace brook::server {

class Metrics;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeApiInterceptorFactory(Metrics* metrics);

}  // namespace brook::server
