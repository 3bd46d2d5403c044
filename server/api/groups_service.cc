// brook.v1.ConsumerGroups: plain offset commits and fetches go to the partition leader (offsets in the
// partition's own Raft group); Heartbeat, a member's commit and the admin calls go to the group's coordinator.
// Everything runs on the host loop.
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
    if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::GROUP, req->group()); !s.ok())
      return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::TOPIC, req->topic()); !s.ok())
      return RejectWrite(reactor, s);
    ctx_->host->CommitOffsets(*req, [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* FetchOffsets(grpc::CallbackServerContext* context, const v1::FetchOffsetsRequest* req,
                                         v1::FetchOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateFetchOffsets(*req)); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::GROUP, req->group()); !s.ok()) return Reject(reactor, s);
    ctx_->host->FetchOffsets(*req, [reactor, resp](grpc::Status s, v1::FetchOffsetsResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DescribeGroup(grpc::CallbackServerContext* context,
                                          const v1::DescribeGroupRequest* req,
                                          v1::DescribeGroupResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateDescribeGroup(*req)); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::GROUP, req->group()); !s.ok()) return Reject(reactor, s);
    ctx_->host->DescribeGroup(*req, [reactor, resp](grpc::Status s, v1::DescribeGroupResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* context, const v1::ListGroupsRequest* req,
                                       v1::ListGroupsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateListGroups(*req)); !s.ok()) return Reject(reactor, s);
    Principal who;
    if (auto s = Authenticated(*ctx_, context, &who); !s.ok()) return Reject(reactor, s);
    // Only the groups the caller may describe.
    ctx_->host->ListGroups(*req, [this, who, reactor, resp](grpc::Status s, v1::ListGroupsResponse r) {
      if (s.ok()) {
        for (auto& g : *r.mutable_groups()) {
          if (Allows(*ctx_, who, v1::DESCRIBE, v1::GROUP, g.group())) *resp->add_groups() = std::move(g);
        }
      }
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* context, const v1::DeleteGroupRequest* req,
                                        v1::DeleteGroupResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateDeleteGroup(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::GROUP, req->group()); !s.ok())
      return RejectWrite(reactor, s);
    ctx_->host->DeleteGroup(*req, [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* ResetOffsets(grpc::CallbackServerContext* context, const v1::ResetOffsetsRequest* req,
                                         v1::ResetOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateResetOffsets(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::GROUP, req->group()); !s.ok())
      return RejectWrite(reactor, s);
    ctx_->host->ResetGroupOffsets(*req, [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context, const v1::HeartbeatRequest* req,
                                      v1::HeartbeatResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateHeartbeat(*req)); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::GROUP, req->group()); !s.ok()) return Reject(reactor, s);
    for (const auto& topic : req->topics()) {
      if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::TOPIC, topic); !s.ok()) return Reject(reactor, s);
    }
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
