// One Subscribe stream (Log.Subscribe): read a chunk of committed records, write it, repeat; when caught up,
// wait on the partition's watermark without holding a thread. The reactor deletes itself when the call is done.
#pragma once

#include "brook/v1/log.grpc.pb.h"
#include "server/api/call_support.h"

namespace brook::server {

// Starts serving `req` (validated here); gRPC owns the returned reactor.
// A stream whose client leaves a message unread for ctx->subscribe_write_timeout_ms is cancelled by the node's
// sweep (SubscriptionRegistry::CancelStalled); at most ctx->max_subscriptions run at once.
grpc::ServerWriteReactor<v1::FetchResponse>* StartSubscribe(ServiceContext* ctx,
                                                            grpc::CallbackServerContext* context,
                                                            const v1::SubscribeRequest* req);

}  // namespace brook::server
