#include "server/transport/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace brook::server {
namespace {

std::string Hmac(absl::string_view secret, absl::string_view cluster_id, uint64_t from, uint64_t to,
                 int64_t unix_ms) {
  const std::string message = absl::StrCat(cluster_id, "|", from, "|", to, "|", unix_ms);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len));
}

}  // namespace

std::string PeerAuthToken(absl::string_view secret, absl::string_view cluster_id, uint64_t from, uint64_t to,
                          int64_t unix_ms) {
  return absl::StrCat(from, ":", to, ":", unix_ms, ":", Hmac(secret, cluster_id, from, to, unix_ms));
}

absl::StatusOr<uint64_t> VerifyPeerAuth(absl::string_view token, absl::string_view secret,
                                        absl::string_view cluster_id, uint64_t self, int64_t now_ms) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, ':');
  uint64_t from = 0, to = 0;
  int64_t at = 0;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &from) || !absl::SimpleAtoi(parts[1], &to) ||
      !absl::SimpleAtoi(parts[2], &at) || parts[3].size() != 64) {
    return absl::UnauthenticatedError(
        "node stream without a valid brook-peer-auth header: every node of a cluster needs the same "
        "--cluster_secret_file");
  }
  if (to != self) return absl::UnauthenticatedError(absl::StrCat("stream meant for node ", to, ", not ", self));
  const int64_t skew = std::chrono::duration_cast<std::chrono::milliseconds>(kMaxSkew).count();
  if (at < now_ms - skew || at > now_ms + skew) {
    return absl::UnauthenticatedError(
        absl::StrCat("stream from node ", from, " is stamped ", (at - now_ms) / 1000,
                     " s away from this node's clock (at most 300 s allowed): check the clocks"));
  }
  const std::string want = Hmac(secret, cluster_id, from, to, at);
  if (CRYPTO_memcmp(want.data(), parts[3].data(), want.size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "stream claiming to be node ", from,
        " is not signed with this cluster's secret: every node needs the same --cluster_secret_file"));
  }
  return from;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read the cluster secret file '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret = buffer.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) {
    secret.pop_back();
  }
  if (secret.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the cluster secret in '", path, "' has ", secret.size(),
                                                   " bytes; use at least ", kMinSecretBytes,
                                                   " (e.g. head -c 32 /dev/urandom | base64 > ", path, ")"));
  }
  return secret;
}

}  // namespace brook::server
