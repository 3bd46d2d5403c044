#include "server/host/producers.h"

#include "server/common/errors.h"

namespace brook::server {

void ProducersHandler::Init(const std::string& name,
                            std::function<void(grpc::Status, v1::InitProducerResponse)> done) {
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  internal::MetadataCommand cmd;
  cmd.mutable_init_producer()->set_producer_name(name);
  cmd.mutable_init_producer()->set_time_ms(ctx_->NowMs());
  ctx_->ProposeMetadata(cmd, [done = std::move(done)](const grpc::Status& s, const MetadataApplied* m) {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    v1::InitProducerResponse resp;
    resp.set_producer_id(m->producer_id);
    resp.set_producer_epoch(m->producer_epoch);
    done(grpc::Status::OK, resp);
  });
}

}  // namespace brook::server
