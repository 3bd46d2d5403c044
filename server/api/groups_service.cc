// brook.v1.ConsumerGroups: offsets live in each partition's own Raft group, so both calls go to the partition
// leader through the host loop.
#include "absl/strings/str_cat.h"
#include "server/api/call_support.h"
#include "server/api/read_path.h"
#include "server/api/services.h"
#include "server/api/validate.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

class GroupsService final : public v1::ConsumerGroups::CallbackService {
 public:
  explicit GroupsService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CommitOffsets(grpc::CallbackServerContext* context,
                                          const v1::CommitOffsetsRequest* req,
                                          v1::CommitOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateCommitOffsets(*req)); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->CommitOffsets(*req, [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* FetchOffsets(grpc::CallbackServerContext* context, const v1::FetchOffsetsRequest* req,
                                         v1::FetchOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateFetchOffsets(*req)); !s.ok()) return Reject(reactor, s);
    ctx_->host->FetchOffsets(*req, [reactor, resp](grpc::Status s, v1::FetchOffsetsResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context, const v1::HeartbeatRequest* req,
                                      v1::HeartbeatResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateHeartbeat(*req)); !s.ok()) return Reject(reactor, s);
    ctx_->host->GroupHeartbeat(*req, [reactor, resp](grpc::Status s, v1::HeartbeatResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

 private:
  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<v1::ConsumerGroups::CallbackService> MakeGroupsService(ServiceContext* ctx) {
  return std::make_unique<GroupsService>(ctx);
}

}  // namespace brook::server
