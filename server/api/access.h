// Who a caller is and what it may do (docs/security.md): authentication by bearer token (a file of hashed tokens,
// reloaded when it changes) or by client certificate (its common name), ACL checks against the rules the metadata
// group holds, and per-principal byte-rate quotas. Thread-safe: called on gRPC's threads by every service.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "brook/v1/access.pb.h"
#include "grpcpp/grpcpp.h"

namespace brook::server {

class Host;

// brookd's access flags.
struct AccessConfig {
  std::string tokens_file;              // --auth_tokens_file: token authentication
  bool mtls = false;                    // --auth_mtls: a client certificate's common name is the principal
  bool authorization = false;           // --authorization: ACLs, deny by default
  std::vector<std::string> superusers;  // --superusers: allowed everything
  bool authentication() const { return !tokens_file.empty() || mtls; }
};

// The lowercase hex SHA-256 of `token` (what --auth_tokens_file holds).
std::string HashToken(std::string_view token);

// The tokens file: lines "NAME sha256:HEX" ('#' starts a comment). Reread when its size, inode or modification
// time changed, at most once a second; a file that fails to parse keeps the last good set (logged, counted).
class TokenFile {
 public:
  // INVALID_ARGUMENT naming the flag and the line when the file cannot be read or parsed.
  static absl::Status Parse(std::string_view text, std::map<std::string, std::string>* hash_to_name);
  absl::Status Load(const std::string& path);
  // The name of the token, or nullopt when no line holds its hash.
  std::optional<std::string> Find(std::string_view token);
  uint64_t reload_failures() const { return reload_failures_.load(); }

 private:
  void MaybeReload();
  std::string path_;
  std::mutex mu_;
  std::map<std::string, std::string> by_hash_;     // guarded by mu_
  std::string stamp_;                              // guarded by mu_: size, inode and mtime of the file read
  std::chrono::steady_clock::time_point checked_;  // guarded by mu_
  std::atomic<uint64_t> reload_failures_{0};
};

struct Principal {
  std::string name;  // "" when authentication is off
  v1::WhoAmIResponse::Method method = v1::WhoAmIResponse::NONE;
  bool superuser = false;
};

// Counters of refusals, for metrics.
struct AccessCounters {
  std::atomic<uint64_t> unauthenticated{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> throttled_produce{0};
  std::atomic<uint64_t> throttled_fetch{0};
};

class AccessControl {
 public:
  AccessControl(AccessConfig config, Host* host) : config_(std::move(config)), host_(host) {}
  // Loads the tokens file; INVALID_ARGUMENT when it cannot be read or parsed, or --authorization is given without
  // a way to authenticate.
  absl::Status Init();
  const AccessConfig& config() const { return config_; }

  // Who made the call: UNAUTHENTICATED when authentication is on and the call carries no valid token and no
  // verified certificate.
  grpc::Status Authenticate(const grpc::CallbackServerContext* context, Principal* out);
  // Whether the rules let `who` do `action` to the resource (always with --authorization off, or a superuser).
  bool Allows(const Principal& who, v1::AclAction action, v1::AclResourceType type, std::string_view name) const;
  // Authenticate, then Allows: PERMISSION_DENIED + AccessDenied naming the principal, the action and the resource.
  grpc::Status Check(const grpc::CallbackServerContext* context, v1::AclAction action, v1::AclResourceType type,
                     std::string_view name, Principal* out = nullptr);
  // InitProducer: PRODUCE on some topic.
  grpc::Status CheckProduceAny(const grpc::CallbackServerContext* context);

  // Quotas (docs/security.md "Quotas"): before a Produce of `bytes`, or before a Fetch, RESOURCE_EXHAUSTED +
  // RetryInfo while the principal's bucket is in debt; the bytes are then charged (ChargeFetch after the read).
  grpc::Status AdmitProduce(const Principal& who, uint64_t bytes);
  grpc::Status AdmitFetch(const Principal& who);
  void ChargeFetch(const Principal& who, uint64_t bytes);

  AccessCounters& counters() { return counters_; }
  const AccessCounters& counters() const { return counters_; }
  uint64_t token_reload_failures() const { return tokens_.reload_failures(); }

  // Principals whose quota buckets are kept at once; the least recently used are forgotten past it.
  static constexpr size_t kMaxBuckets = 10'000;

 private:
  struct Bucket {
    double produce = 0;  // bytes of credit (negative: debt)
    double fetch = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  grpc::Status Denied(const Principal& who, v1::AclAction action, v1::AclResourceType type, std::string_view name);
  // The principal's quota (its own, or "*"'s); all zero when none.
  v1::Quota QuotaOf(const Principal& who) const;
  // Refills the principal's bucket (up to one second of its rates) and hands it to `use` under mu_.
  grpc::Status WithBucket(const Principal& who, bool produce, int64_t charge);

  AccessConfig config_;
  Host* host_;
  TokenFile tokens_;
  AccessCounters counters_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;             // guarded by mu_
  std::chrono::steady_clock::time_point log_window_;  // guarded by mu_: denial log lines, at most 20 per 10 s
  int logged_in_window_ = 0;                          // guarded by mu_
};

}  // namespace brook::server
