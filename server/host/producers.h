// Producer identities (InitProducer): a producer name's id and epoch, kept by the metadata group so that a new
// instance of a named producer fences every earlier one (docs/api.md "Idempotent produce").
//
// Loop thread only (Host posts to it). Cost: one metadata proposal per call.
#pragma once

#include <functional>
#include <string>

#include "brook/v1/log.pb.h"
#include "server/host/context.h"

namespace brook::server {

class ProducersHandler {
 public:
  explicit ProducersHandler(HostContext* ctx) : ctx_(ctx) {}
  // Gives `name` its id and next epoch (an empty name: a fresh id at epoch 0), on the controller.
  void Init(const std::string& name, std::function<void(grpc::Status, v1::InitProducerResponse)> done);

 private:
  HostContext* const ctx_;
};

}  // namespace brook::server
