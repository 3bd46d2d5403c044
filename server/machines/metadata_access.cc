// The access-control commands of the metadata group (docs/security.md): ACL rules and quotas. Each is checked
// again at apply, on every node alike, so an entry the controller should not have proposed changes nothing.
#include "absl/strings/str_cat.h"
#include "server/common/access.h"
#include "server/common/limits.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {

void MetadataMachine::ApplyAccess(const internal::MetadataCommand& cmd, MetadataApplied& out) {
  if (cmd.has_change_acl()) return ChangeAcl(cmd.change_acl(), out);
  SetQuota(cmd.set_quota(), out);
}

void MetadataMachine::ChangeAcl(const internal::MetadataCommand::ChangeAcl& cmd, MetadataApplied& out) {
  if (auto s = ValidateAclRule(cmd.rule(), "rule"); !s.ok()) {
    out.status = s;
    return;
  }
  auto* rules = state_.mutable_acls();
  for (int i = 0; i < rules->size(); ++i) {
    if (!SameRule(rules->Get(i), cmd.rule())) continue;
    if (!cmd.remove()) {
      out.status = absl::AlreadyExistsError("the same ACL rule is there already");
      return;
    }
    rules->DeleteSubrange(i, 1);
    return;
  }
  if (cmd.remove()) {
    out.status = absl::NotFoundError("no ACL rule is exactly this one (list them with `brook acl list`)");
    return;
  }
  if (rules->size() >= static_cast<int>(Limits::kMaxAclRules)) {
    out.status = absl::ResourceExhaustedError(
        absl::StrCat("the cluster holds its limit of ", Limits::kMaxAclRules, " ACL rules; remove some first"));
    return;
  }
  *rules->Add() = cmd.rule();
}

void MetadataMachine::SetQuota(const internal::MetadataCommand::SetQuota& cmd, MetadataApplied& out) {
  const auto& quota = cmd.quota();
  if (auto s = ValidatePrincipal(quota.principal(), "quota.principal"); !s.ok()) {
    out.status = s;
    return;
  }
  auto* quotas = state_.mutable_quotas();
  if (quota.produce_bytes_per_second() == 0 && quota.fetch_bytes_per_second() == 0) {
    quotas->erase(quota.principal());
    return;
  }
  if (!quotas->contains(quota.principal()) && quotas->size() >= Limits::kMaxQuotas) {
    out.status = absl::ResourceExhaustedError(
        absl::StrCat("the cluster holds its limit of ", Limits::kMaxQuotas, " quotas; clear some first"));
    return;
  }
  (*quotas)[quota.principal()] = quota;
}

}  // namespace brook::server
