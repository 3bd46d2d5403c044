// Authenticating node-to-node streams with the cluster secret (brookd --cluster_secret_file).
//
// The node that opens a stream sends, in the `brook-peer-auth` header, "<from>:<to>:<unix ms>:<hex HMAC-SHA256>"
// where the HMAC is keyed by the secret over "<cluster id>|<from>|<to>|<unix ms>". The receiver accepts the stream
// only if the HMAC matches, `to` is itself, `from` is a member of the cluster, and the time is within kMaxSkew of
// its own clock; the stream is then bound to `from`: every batch and every message on it must claim to come from
// `from`.
//
// What this protects, plainly: a process that does not know the secret cannot open a node-to-node stream, so it
// cannot inject Raft messages, claim to be a member, or plant addresses. The secret itself never crosses the wire.
// What it does not protect: the traffic is not encrypted, so anyone who can read it can read the messages, and can
// replay a captured header to open a stream as the same node to the same receiver within kMaxSkew. Only mutual TLS
// (docs/decisions.md D12) stops reading and replaying.
//
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace brook::server {

inline constexpr char kPeerAuthHeader[] = "brook-peer-auth";
inline constexpr std::chrono::minutes kMaxSkew{5};

// A secret must hold at least this many bytes (a random 32-byte key, e.g. `head -c 32 /dev/urandom | base64`).
inline constexpr size_t kMinSecretBytes = 16;

// The header value node `from` sends to open a stream to node `to` at `unix_ms`.
std::string PeerAuthToken(absl::string_view secret, absl::string_view cluster_id, uint64_t from, uint64_t to,
                          int64_t unix_ms);

// Checks a received header value; returns the sending node's id. UNAUTHENTICATED says what is wrong (never the
// expected HMAC).
absl::StatusOr<uint64_t> VerifyPeerAuth(absl::string_view token, absl::string_view secret,
                                        absl::string_view cluster_id, uint64_t self, int64_t now_ms);

// Reads a secret file: its content without trailing whitespace; INVALID_ARGUMENT if unreadable or too short.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace brook::server
