// The access-control model shared by the metadata machine (which stores ACL rules and quotas) and the services
// (which check them): what a valid rule is, and whether a set of rules lets a principal act on a resource
// (docs/security.md "Authorization"). Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "brook/v1/access.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace brook::server {

using AclRules = google::protobuf::RepeatedPtrField<v1::AclRule>;

// INVALID_ARGUMENT naming the field (under `field`, e.g. "rule") unless the rule is complete and in bounds: a
// principal of 1..Limits::kMaxPrincipalBytes printable bytes or "*", a known action and resource type, a name
// only for topics and groups (a literal name not empty, at most the longest topic or group name).
absl::Status ValidateAclRule(const v1::AclRule& rule, std::string_view field);
// INVALID_ARGUMENT unless the principal is "*" or 1..Limits::kMaxPrincipalBytes printable bytes, no spaces.
absl::Status ValidatePrincipal(std::string_view principal, std::string_view field);
// Whether two rules are the same rule (AddAcl's ALREADY_EXISTS, RemoveAcl's match).
bool SameRule(const v1::AclRule& a, const v1::AclRule& b);
// Whether some rule lets `principal` do `action` to the resource. A rule for PRODUCE, CONSUME or ADMIN also
// grants DESCRIBE on what it names. Rules of principal "*" apply to every authenticated principal.
bool AclAllows(const AclRules& rules, std::string_view principal, v1::AclAction action, v1::AclResourceType type,
               std::string_view name);
// Whether some rule lets `principal` do `action` to any resource of `type` (InitProducer needs PRODUCE on some
// topic).
bool AclAllowsAny(const AclRules& rules, std::string_view principal, v1::AclAction action,
                  v1::AclResourceType type);
// "produce", "topic", ...: the words the CLI, the logs and PERMISSION_DENIED messages use.
std::string_view ActionName(v1::AclAction action);
std::string_view ResourceTypeName(v1::AclResourceType type);

}  // namespace brook::server
