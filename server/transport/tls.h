// TLS for a node's ports (docs/security.md), with certificates from files that are re-read while the node runs
// (gRPC's file watcher, every kTlsRefreshSeconds): replace the files and new connections use the new ones.
//
// The client port: server-side TLS (clients check the node's certificate against the CA). The node-to-node port:
// mutual TLS. Every node presents its certificate, which must chain to the cluster CA and name the node ("node-N"
// as its common name or a DNS name); the receiving side binds a stream to the node its signed header claims only
// when the certificate names that node (CertifiedNodes), and the dialling side checks that the node it dials
// presents a certificate for "node-N" (the TLS target name), so a node cannot pose as another even with the
// cluster secret.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace brook::server {

struct TlsConfig {
  std::string cert_file;  // PEM certificate chain of this node
  std::string key_file;   // PEM private key
  std::string ca_file;    // PEM certificates of the cluster CA
  bool enabled() const { return !cert_file.empty(); }
};

inline constexpr unsigned kTlsRefreshSeconds = 10;

// The name a node's certificate carries: "node-<id>".
std::string NodeCertName(uint64_t id);

// INVALID_ARGUMENT naming the flag when a file is missing or unreadable, or not PEM; all three or none.
absl::Status CheckTlsFiles(const TlsConfig& tls);

// What a listening port asks of the peer's certificate: nothing (the client port without --auth_mtls), a
// certificate verified against the CA when one is given (the client port with --auth_mtls: its common name is the
// principal), or a verified certificate always (the node-to-node port).
enum class ClientCerts { kNone, kVerifyIfGiven, kRequire };
// Credentials of a listening port: TLS with this node's certificate.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsConfig& tls, ClientCerts client_certs);

// Credentials of a node-to-node channel: this node's certificate as its identity, the server's chain checked
// against the CA. With `check_name` the server's certificate must also name the TLS target name, which
// SetPeerTargetName sets; without it (a joining node that does not know whom it dials) only the chain is checked.
std::shared_ptr<grpc::ChannelCredentials> MakePeerChannelCredentials(const TlsConfig& tls, bool check_name = true);
void SetPeerTargetName(grpc::ChannelArguments& args, uint64_t node);

// The node ids the peer's verified certificate names ("node-N" as common name or DNS name); empty for a
// connection without a verified certificate.
std::set<uint64_t> CertifiedNodes(const grpc::AuthContext& auth);
// PERMISSION_DENIED, saying what the certificate names, unless it names node `claimed`.
absl::Status CheckCertifiedNode(const grpc::AuthContext& auth, uint64_t claimed);

}  // namespace brook::server
