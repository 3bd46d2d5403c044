#include "server/common/access.h"

#include "absl/strings/str_cat.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

bool Printable(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

bool NameMatches(const v1::AclRule& rule, std::string_view name) {
  if (rule.resource_type() == v1::CLUSTER) return true;
  if (rule.prefix()) return name.substr(0, rule.resource_name().size()) == rule.resource_name();
  return name == rule.resource_name();
}

bool ActionMatches(v1::AclAction granted, v1::AclAction wanted) {
  return granted == wanted || wanted == v1::DESCRIBE;
}

}  // namespace

absl::Status ValidatePrincipal(std::string_view principal, std::string_view field) {
  if (principal == "*") return absl::OkStatus();
  if (principal.empty() || principal.size() > Limits::kMaxPrincipalBytes || !Printable(principal)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": a principal is \"*\" or 1..",
                                                   Limits::kMaxPrincipalBytes,
                                                   " printable bytes without spaces (a token's name or a "
                                                   "certificate's common name)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAclRule(const v1::AclRule& rule, std::string_view field) {
  const std::string f(field);
  if (auto s = ValidatePrincipal(rule.principal(), f + ".principal"); !s.ok()) return s;
  if (rule.action() < v1::PRODUCE || rule.action() > v1::ADMIN) {
    return absl::InvalidArgumentError(f + ".action: give produce, consume, describe or admin");
  }
  const auto type = rule.resource_type();
  if (type == v1::CLUSTER) {
    if (!rule.resource_name().empty() || rule.prefix()) {
      return absl::InvalidArgumentError(f + ".resource_name: a cluster rule names no resource and no prefix");
    }
    if (rule.action() == v1::PRODUCE || rule.action() == v1::CONSUME) {
      return absl::InvalidArgumentError(f + ".action: the cluster takes describe or admin");
    }
    return absl::OkStatus();
  }
  if (type != v1::TOPIC && type != v1::GROUP) {
    return absl::InvalidArgumentError(f + ".resource_type: give topic, group or cluster");
  }
  if (type == v1::GROUP && rule.action() == v1::PRODUCE) {
    return absl::InvalidArgumentError(f + ".action: a group takes consume, describe or admin");
  }
  const uint32_t longest = type == v1::TOPIC ? Limits::kMaxTopicNameLength : Limits::kMaxGroupNameLength;
  if (rule.resource_name().size() > longest || !Printable(rule.resource_name())) {
    return absl::InvalidArgumentError(
        absl::StrCat(f, ".resource_name: at most ", longest, " printable bytes without spaces"));
  }
  if (rule.resource_name().empty() && !rule.prefix()) {
    return absl::InvalidArgumentError(f + ".resource_name: give a name, or an empty prefix for every name");
  }
  return absl::OkStatus();
}

bool SameRule(const v1::AclRule& a, const v1::AclRule& b) {
  return a.principal() == b.principal() && a.action() == b.action() && a.resource_type() == b.resource_type() &&
         a.resource_name() == b.resource_name() && a.prefix() == b.prefix();
}

bool AclAllows(const AclRules& rules, std::string_view principal, v1::AclAction action, v1::AclResourceType type,
               std::string_view name) {
  for (const auto& rule : rules) {
    if (rule.resource_type() != type || !ActionMatches(rule.action(), action)) continue;
    if (rule.principal() != "*" && rule.principal() != principal) continue;
    if (NameMatches(rule, name)) return true;
  }
  return false;
}

bool AclAllowsAny(const AclRules& rules, std::string_view principal, v1::AclAction action,
                  v1::AclResourceType type) {
  for (const auto& rule : rules) {
    if (rule.resource_type() == type && ActionMatches(rule.action(), action) &&
        (rule.principal() == "*" || rule.principal() == principal)) {
      return true;
    }
  }
  return false;
}

std::string_view ActionName(v1::AclAction action) {
  switch (action) {
    case v1::PRODUCE:
      return "produce";
    case v1::CONSUME:
      return "consume";
    case v1::DESCRIBE:
      return "describe";
    case v1::ADMIN:
      return "admin";
    default:
      return "unspecified";
  }
}

std::string_view ResourceTypeName(v1::AclResourceType type) {
  switch (type) {
    case v1::TOPIC:
      return "topic";
    case v1::GROUP:
      return "group";
    case v1::CLUSTER:
      return "cluster";
    default:
      return "unspecified";
  }
}

}  // namespace brook::server
