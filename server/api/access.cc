#include "server/api/access.h"

#include <openssl/sha.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/access.h"
#include "server/common/errors.h"
#include "server/common/limits.h"
#include "server/common/log.h"
#include "server/host/host.h"

namespace brook::server {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kBearer = "Bearer ";

// Size, inode and modification time: what tells a changed tokens file from the one read.
std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_size, ":", st.st_ino, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file=", path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  *out = text.str();
  return absl::OkStatus();
}

bool IsHexDigest(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string HashToken(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

absl::Status TokenFile::Parse(std::string_view text, std::map<std::string, std::string>* hash_to_name) {
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    if (auto hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<std::string> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file line ", line_no, ": ", std::string(why),
                                                     " (a line is: NAME sha256:HEX)"));
    };
    if (fields.size() != 2) return bad("two fields expected");
    if (auto s = ValidatePrincipal(fields[0], "name"); !s.ok() || fields[0] == "*") {
      return bad("the name is 1..256 printable bytes without spaces, not \"*\"");
    }
    if (!absl::StartsWith(fields[1], "sha256:") || !IsHexDigest(std::string_view(fields[1]).substr(7))) {
      return bad("the hash is sha256: and 64 lowercase hex digits (printf %s \"$TOKEN\" | sha256sum)");
    }
    if (hash_to_name->size() >= Limits::kMaxTokens) {
      return bad(absl::StrCat("more than ", Limits::kMaxTokens, " tokens"));
    }
    if (!hash_to_name->emplace(fields[1].substr(7), fields[0]).second) return bad("the same token is given twice");
  }
  return absl::OkStatus();
}

absl::Status TokenFile::Load(const std::string& path) {
  std::string text;
  const std::string stamp = Stamp(path);
  if (auto s = ReadFile(path, &text); !s.ok()) return s;
  std::map<std::string, std::string> parsed;
  if (auto s = Parse(text, &parsed); !s.ok()) return s;
  std::lock_guard lock(mu_);
  path_ = path;
  by_hash_ = std::move(parsed);
  stamp_ = stamp;
  checked_ = SteadyClock::now();
  return absl::OkStatus();
}

void TokenFile::MaybeReload() {
  const auto now = SteadyClock::now();
  if (now - checked_ < std::chrono::seconds(1)) return;
  checked_ = now;
  const std::string stamp = Stamp(path_);
  if (stamp == stamp_) return;
  stamp_ = stamp;
  std::string text;
  std::map<std::string, std::string> parsed;
  absl::Status s = ReadFile(path_, &text);
  if (s.ok()) s = Parse(text, &parsed);
  if (!s.ok()) {
    reload_failures_.fetch_add(1);
    LogError("tokens file not reloaded, the last good one stays: ", s.message());
    return;
  }
  LogInfo("tokens file reloaded: ", parsed.size(), " tokens");
  by_hash_ = std::move(parsed);
}

std::optional<std::string> TokenFile::Find(std::string_view token) {
  const std::string hash = HashToken(token);
  std::lock_guard lock(mu_);
  MaybeReload();
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

absl::Status AccessControl::Init() {
  if (config_.authorization && !config_.authentication()) {
    return absl::InvalidArgumentError(
        "--authorization needs a way to authenticate: --auth_tokens_file or --auth_mtls");
  }
  for (const auto& name : config_.superusers) {
    if (auto s = ValidatePrincipal(name, "--superusers"); !s.ok() || name == "*") {
      return absl::InvalidArgumentError(absl::StrCat("--superusers: '", name, "' is not a principal name"));
    }
  }
  if (!config_.tokens_file.empty()) return tokens_.Load(config_.tokens_file);
  return absl::OkStatus();
}

grpc::Status AccessControl::Authenticate(const grpc::CallbackServerContext* context, Principal* out) {
  *out = {};
  if (!config_.authentication()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end() && !config_.tokens_file.empty()) {
    const std::string_view value(it->second.data(), it->second.size());
    if (value.substr(0, kBearer.size()) != kBearer || value.size() - kBearer.size() > Limits::kMaxTokenBytes) {
      counters_.unauthenticated.fetch_add(1);
      return {grpc::StatusCode::UNAUTHENTICATED, "the authorization header is not 'Bearer <token>'"};
    }
    auto name = tokens_.Find(value.substr(kBearer.size()));
    if (!name) {
      counters_.unauthenticated.fetch_add(1);
      return {grpc::StatusCode::UNAUTHENTICATED, "the token is not known to this node (wrong, or removed)"};
    }
    out->name = std::move(*name);
    out->method = v1::WhoAmIResponse::TOKEN;
  } else if (auto auth = context->auth_context(); config_.mtls && auth && auth->IsPeerAuthenticated()) {
    auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    if (!cn.empty()) {
      out->name.assign(cn.front().data(), cn.front().size());
      out->method = v1::WhoAmIResponse::CERTIFICATE;
    }
  }
  if (out->name.empty()) {
    counters_.unauthenticated.fetch_add(1);
    return {grpc::StatusCode::UNAUTHENTICATED,
            config_.tokens_file.empty()
                ? "this node authenticates clients by certificate: present one signed by the cluster's CA"
                : "this node needs a token: send 'authorization: Bearer <token>' (brook --token or BROOK_TOKEN)"};
  }
  out->superuser =
      std::find(config_.superusers.begin(), config_.superusers.end(), out->name) != config_.superusers.end();
  return grpc::Status::OK;
}

bool AccessControl::Allows(const Principal& who, v1::AclAction action, v1::AclResourceType type,
                           std::string_view name) const {
  if (!config_.authorization || who.superuser) return true;
  auto view = host_->cluster();
  return view != nullptr && AclAllows(view->metadata.acls(), who.name, action, type, name);
}

grpc::Status AccessControl::Denied(const Principal& who, v1::AclAction action, v1::AclResourceType type,
                                   std::string_view name) {
  counters_.denied.fetch_add(1);
  const std::string what = type == v1::CLUSTER
                               ? std::string("the cluster")
                               : absl::StrCat(std::string(ResourceTypeName(type)), " '", std::string(name), "'");
  const std::string message = absl::StrCat("principal '", who.name, "' may not ", std::string(ActionName(action)),
                                           " ", what, ": no ACL rule allows it (brook acl add)");
  {
    std::lock_guard lock(mu_);
    const auto now = SteadyClock::now();
    if (now - log_window_ > std::chrono::seconds(10)) {
      log_window_ = now;
      logged_in_window_ = 0;
    }
    if (++logged_in_window_ <= 20) LogWarning("access denied: ", message);
  }
  return AccessDeniedStatus(who.name, action, type, name, message);
}

grpc::Status AccessControl::Check(const grpc::CallbackServerContext* context, v1::AclAction action,
                                  v1::AclResourceType type, std::string_view name, Principal* out) {
  Principal who;
  if (auto s = Authenticate(context, &who); !s.ok()) return s;
  if (!Allows(who, action, type, name)) return Denied(who, action, type, name);
  if (out != nullptr) *out = std::move(who);
  return grpc::Status::OK;
}

grpc::Status AccessControl::CheckProduceAny(const grpc::CallbackServerContext* context) {
  Principal who;
  if (auto s = Authenticate(context, &who); !s.ok()) return s;
  if (!config_.authorization || who.superuser) return grpc::Status::OK;
  auto view = host_->cluster();
  if (view != nullptr && AclAllowsAny(view->metadata.acls(), who.name, v1::PRODUCE, v1::TOPIC)) {
    return grpc::Status::OK;
  }
  return Denied(who, v1::PRODUCE, v1::TOPIC, "*");
}

v1::Quota AccessControl::QuotaOf(const Principal& who) const {
  auto view = host_->cluster();
  if (view == nullptr) return {};
  const auto& quotas = view->metadata.quotas();
  if (auto it = quotas.find(who.name); !who.name.empty() && it != quotas.end()) return it->second;
  if (auto it = quotas.find("*"); it != quotas.end()) return it->second;
  return {};
}

grpc::Status AccessControl::WithBucket(const Principal& who, bool produce, int64_t charge) {
  const v1::Quota quota = QuotaOf(who);
  const uint64_t rate = produce ? quota.produce_bytes_per_second() : quota.fetch_bytes_per_second();
  if (rate == 0) return grpc::Status::OK;
  const auto now = SteadyClock::now();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(who.name);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxBuckets) {
      auto oldest = std::min_element(buckets_.begin(), buckets_.end(), [](const auto& a, const auto& b) {
        return a.second.refilled < b.second.refilled;
      });
      buckets_.erase(oldest);
    }
    it = buckets_.emplace(who.name, Bucket{static_cast<double>(rate), static_cast<double>(rate), now}).first;
  }
  Bucket& b = it->second;
  const double seconds = std::chrono::duration<double>(now - b.refilled).count();
  b.refilled = now;
  double& credit = produce ? b.produce : b.fetch;
  credit = std::min(static_cast<double>(rate), credit + seconds * static_cast<double>(rate));
  if (charge >= 0) {
    credit -= static_cast<double>(charge);
    return grpc::Status::OK;
  }
  if (credit >= 0) return grpc::Status::OK;
  const auto delay_ms =
      static_cast<uint32_t>(std::clamp(std::ceil(-credit * 1000.0 / static_cast<double>(rate)), 1.0, 60'000.0));
  (produce ? counters_.throttled_produce : counters_.throttled_fetch).fetch_add(1);
  const char* name = produce ? "produce_bytes_per_second" : "fetch_bytes_per_second";
  return QuotaExceededStatus(name, rate, delay_ms,
                             absl::StrCat("principal '", who.name.empty() ? "*" : who.name, "' is over its ", name,
                                          " quota of ", rate, " on this node; retry in ", delay_ms, " ms"));
}

grpc::Status AccessControl::AdmitProduce(const Principal& who, uint64_t bytes) {
  if (auto s = WithBucket(who, /*produce=*/true, -1); !s.ok()) return s;
  return WithBucket(who, /*produce=*/true, static_cast<int64_t>(bytes));
}

grpc::Status AccessControl::AdmitFetch(const Principal& who) { return WithBucket(who, /*produce=*/false, -1); }

void AccessControl::ChargeFetch(const Principal& who, uint64_t bytes) {
  WithBucket(who, /*produce=*/false, static_cast<int64_t>(bytes));
}

}  // namespace brook::server
