// brook.v1.Access (docs/security.md): who the caller is, and the ACL rules and quotas the metadata group holds.
// Changes go to the controller as metadata commands (ChangeAcl, SetQuota) and need ADMIN on the cluster; lists are
// answered from this node's applied metadata and need DESCRIBE on the cluster.
#include "server/api/call_support.h"
#include "server/api/services.h"
#include "server/common/access.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

grpc::Status Valid(const absl::Status& s) { return s.ok() ? grpc::Status::OK : ToGrpc(s); }

class AccessService final : public v1::Access::CallbackService {
 public:
  explicit AccessService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context, const v1::WhoAmIRequest*,
                                   v1::WhoAmIResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    Principal who;
    if (ctx_->access != nullptr) {
      if (auto s = ctx_->access->Authenticate(context, &who); !s.ok()) return Reject(reactor, s);
      resp->set_authorization_enabled(ctx_->access->config().authorization);
    }
    resp->set_principal(who.name);
    resp->set_method(who.method);
    resp->set_superuser(who.superuser);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* AddAcl(grpc::CallbackServerContext* context, const v1::AddAclRequest* req,
                                   v1::AddAclResponse*) override {
    internal::MetadataCommand cmd;
    *cmd.mutable_change_acl()->mutable_rule() = req->rule();
    return Change(context, Valid(ValidateAclRule(req->rule(), "rule")), cmd);
  }

  grpc::ServerUnaryReactor* RemoveAcl(grpc::CallbackServerContext* context, const v1::RemoveAclRequest* req,
                                      v1::RemoveAclResponse*) override {
    internal::MetadataCommand cmd;
    *cmd.mutable_change_acl()->mutable_rule() = req->rule();
    cmd.mutable_change_acl()->set_remove(true);
    return Change(context, Valid(ValidateAclRule(req->rule(), "rule")), cmd);
  }

  grpc::ServerUnaryReactor* SetQuota(grpc::CallbackServerContext* context, const v1::SetQuotaRequest* req,
                                     v1::SetQuotaResponse*) override {
    internal::MetadataCommand cmd;
    *cmd.mutable_set_quota()->mutable_quota() = req->quota();
    return Change(context, Valid(ValidatePrincipal(req->quota().principal(), "quota.principal")), cmd);
  }

  grpc::ServerUnaryReactor* ListAcls(grpc::CallbackServerContext* context, const v1::ListAclsRequest* req,
                                     v1::ListAclsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::CLUSTER, ""); !s.ok()) return Reject(reactor, s);
    auto cluster = ctx_->host->cluster();
    for (const auto& rule : cluster->metadata.acls()) {
      if (req->principal().empty() || rule.principal() == req->principal()) *resp->add_rules() = rule;
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* ListQuotas(grpc::CallbackServerContext* context, const v1::ListQuotasRequest*,
                                       v1::ListQuotasResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::CLUSTER, ""); !s.ok()) return Reject(reactor, s);
    auto cluster = ctx_->host->cluster();
    for (const auto& [principal, quota] : cluster->metadata.quotas()) *resp->add_quotas() = quota;
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  // A change: valid, allowed (ADMIN on the cluster), then proposed on the controller.
  grpc::ServerUnaryReactor* Change(grpc::CallbackServerContext* context, const grpc::Status& valid,
                                   const internal::MetadataCommand& cmd) {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, valid); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->ProposeAccess(cmd, [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<v1::Access::CallbackService> MakeAccessService(ServiceContext* ctx) {
  return std::make_unique<AccessService>(ctx);
}

}  // namespace brook::server
