// `brook whoami`, `brook acl add|list|remove`, `brook quota set|list` and `brook token new`: access control from
// the command line (docs/security.md).
#include <openssl/sha.h>
#include <sys/random.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli/context.h"
#include "client/cli/output.h"

namespace brook::cli {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

const char* ActionWord(v1::AclAction a) {
  switch (a) {
    case v1::PRODUCE:
      return "produce";
    case v1::CONSUME:
      return "consume";
    case v1::DESCRIBE:
      return "describe";
    case v1::ADMIN:
      return "admin";
    default:
      return "?";
  }
}

// "topic:orders", "topic:team-a.*" (a prefix), "group:*" (every group), "cluster".
std::string ResourceWord(const v1::AclRule& r) {
  if (r.resource_type() == v1::CLUSTER) return "cluster";
  return absl::StrCat(r.resource_type() == v1::TOPIC ? "topic:" : "group:", r.resource_name(),
                      r.prefix() ? "*" : "");
}

// PRINCIPAL ACTION RESOURCE -> a rule, or what is wrong.
absl::Status ParseRule(const std::vector<std::string>& words, v1::AclRule* rule) {
  rule->set_principal(words[0]);
  const std::string& action = words[1];
  if (action == "produce") {
    rule->set_action(v1::PRODUCE);
  } else if (action == "consume") {
    rule->set_action(v1::CONSUME);
  } else if (action == "describe") {
    rule->set_action(v1::DESCRIBE);
  } else if (action == "admin") {
    rule->set_action(v1::ADMIN);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("action '", action, "': give produce, consume, describe or admin"));
  }
  std::string resource = words[2];
  if (resource == "cluster") {
    rule->set_resource_type(v1::CLUSTER);
    return absl::OkStatus();
  }
  if (absl::StartsWith(resource, "topic:")) {
    rule->set_resource_type(v1::TOPIC);
  } else if (absl::StartsWith(resource, "group:")) {
    rule->set_resource_type(v1::GROUP);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", resource, "': give topic:NAME, group:NAME (NAME* for a prefix) or cluster"));
  }
  resource = resource.substr(6);
  if (absl::EndsWith(resource, "*")) {
    rule->set_prefix(true);
    resource.pop_back();
  }
  rule->set_resource_name(resource);
  return absl::OkStatus();
}

absl::Status Unary(Context& ctx, bool idempotent,
                   const std::function<grpc::Status(grpc::ClientContext*, client::NodeStubs*)>& call,
                   client::Route route = client::Route::AnyNode()) {
  return ctx.connection->Call(route, ctx.connection->DefaultDeadline(), idempotent, call);
}

}  // namespace

int WhoAmI(Context& ctx) {
  v1::WhoAmIResponse resp;
  auto s = Unary(ctx, true, [&](grpc::ClientContext* c, client::NodeStubs* n) {
    return n->access->WhoAmI(c, v1::WhoAmIRequest(), &resp);
  });
  if (!s.ok()) return Fail(ctx, s);
  const char* method = resp.method() == v1::WhoAmIResponse::TOKEN         ? "token"
                       : resp.method() == v1::WhoAmIResponse::CERTIFICATE ? "certificate"
                                                                          : "none";
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("principal").String(resp.principal()).Key("method").String(method);
    w.Key("superuser").Bool(resp.superuser()).Key("authorization").Bool(resp.authorization_enabled()).EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  ctx.io.out << (resp.principal().empty() ? "(anonymous: the cluster does not authenticate)" : resp.principal())
             << "  by " << method << (resp.superuser() ? "  superuser" : "")
             << (resp.authorization_enabled() ? "  acls on" : "  acls off") << "\n";
  return kExitOk;
}

int AclChange(Context& ctx, bool remove) {
  v1::AclRule rule;
  if (auto s = ParseRule(ctx.positionals, &rule); !s.ok()) return UsageError(ctx, std::string(s.message()));
  auto s = Unary(
      ctx, false,
      [&](grpc::ClientContext* c, client::NodeStubs* n) {
        if (remove) {
          v1::RemoveAclRequest req;
          *req.mutable_rule() = rule;
          v1::RemoveAclResponse resp;
          return n->access->RemoveAcl(c, req, &resp);
        }
        v1::AddAclRequest req;
        *req.mutable_rule() = rule;
        v1::AddAclResponse resp;
        return n->access->AddAcl(c, req, &resp);
      },
      client::Route::Controller());
  if (!s.ok()) return Fail(ctx, s);
  if (!ctx.json) {
    ctx.io.out << (remove ? "removed: " : "added: ") << rule.principal() << " " << ActionWord(rule.action()) << " "
               << ResourceWord(rule) << "\n";
  }
  return kExitOk;
}

int AclAdd(Context& ctx) { return AclChange(ctx, false); }
int AclRemove(Context& ctx) { return AclChange(ctx, true); }

int AclList(Context& ctx) {
  v1::ListAclsRequest req;
  req.set_principal(ctx.args.Get("principal", ""));
  v1::ListAclsResponse resp;
  auto s = Unary(ctx, true,
                 [&](grpc::ClientContext* c, client::NodeStubs* n) { return n->access->ListAcls(c, req, &resp); });
  if (!s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& r : resp.rules()) {
      w.BeginObject().Key("principal").String(r.principal()).Key("action").String(ActionWord(r.action()));
      w.Key("resource").String(ResourceWord(r)).EndObject();
    }
    w.EndArray();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"PRINCIPAL", "ACTION", "RESOURCE"});
  for (const auto& r : resp.rules()) table.AddRow({r.principal(), ActionWord(r.action()), ResourceWord(r)});
  table.Print(ctx.io.out);
  return kExitOk;
}

int QuotaSet(Context& ctx) {
  v1::SetQuotaRequest req;
  req.mutable_quota()->set_principal(ctx.positionals[0]);
  uint64_t produce = 0;
  uint64_t fetch = 0;
  if (!absl::SimpleAtoi(ctx.args.Get("produce-bytes-per-sec", "0"), &produce) ||
      !absl::SimpleAtoi(ctx.args.Get("fetch-bytes-per-sec", "0"), &fetch)) {
    return UsageError(ctx, "--produce-bytes-per-sec and --fetch-bytes-per-sec take whole numbers (0: no limit)");
  }
  req.mutable_quota()->set_produce_bytes_per_second(produce);
  req.mutable_quota()->set_fetch_bytes_per_second(fetch);
  auto s = Unary(
      ctx, false,
      [&](grpc::ClientContext* c, client::NodeStubs* n) {
        v1::SetQuotaResponse resp;
        return n->access->SetQuota(c, req, &resp);
      },
      client::Route::Controller());
  if (!s.ok()) return Fail(ctx, s);
  if (!ctx.json) {
    ctx.io.out << "quota of " << req.quota().principal() << ": produce "
               << (produce == 0 ? "unlimited" : absl::StrCat(produce, " B/s")) << ", fetch "
               << (fetch == 0 ? "unlimited" : absl::StrCat(fetch, " B/s")) << " per node\n";
  }
  return kExitOk;
}

int QuotaList(Context& ctx) {
  v1::ListQuotasResponse resp;
  auto s = Unary(ctx, true, [&](grpc::ClientContext* c, client::NodeStubs* n) {
    return n->access->ListQuotas(c, v1::ListQuotasRequest(), &resp);
  });
  if (!s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& q : resp.quotas()) {
      w.BeginObject().Key("principal").String(q.principal());
      w.Key("produce_bytes_per_second").Uint(q.produce_bytes_per_second());
      w.Key("fetch_bytes_per_second").Uint(q.fetch_bytes_per_second()).EndObject();
    }
    w.EndArray();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"PRINCIPAL", "PRODUCE_B/S", "FETCH_B/S"});
  for (const auto& q : resp.quotas()) {
    table.AddRow(
        {q.principal(), absl::StrCat(q.produce_bytes_per_second()), absl::StrCat(q.fetch_bytes_per_second())});
  }
  table.Print(ctx.io.out);
  return kExitOk;
}

int TokenNew(Context& ctx) {
  unsigned char raw[32];
  if (getrandom(raw, sizeof(raw), 0) != static_cast<ssize_t>(sizeof(raw))) {
    return Fail(ctx, absl::InternalError("no randomness from the kernel (getrandom)"));
  }
  const std::string token = Hex(raw, sizeof(raw));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  const std::string line = absl::StrCat(ctx.positionals[0], " sha256:", Hex(digest, sizeof(digest)));
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("name").String(ctx.positionals[0]).Key("token").String(token);
    w.Key("tokens_file_line").String(line).EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  ctx.io.out << "token (give it to the client; it is not stored anywhere): " << token << "\n"
             << "line for brookd --auth_tokens_file: " << line << "\n";
  return kExitOk;
}

}  // namespace brook::cli
