#include "server/transport/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace brook::server {
namespace {

using grpc::experimental::FileWatcherCertificateProvider;

std::shared_ptr<FileWatcherCertificateProvider> Provider(const TlsConfig& tls) {
  return std::make_shared<FileWatcherCertificateProvider>(tls.key_file, tls.cert_file, tls.ca_file,
                                                          kTlsRefreshSeconds);
}

absl::Status CheckPem(const char* flag, const std::string& path, const char* marker) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot be read"));
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), marker)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": not a PEM file (no '", marker, "')"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string NodeCertName(uint64_t id) { return absl::StrCat("node-", id); }

absl::Status CheckTlsFiles(const TlsConfig& tls) {
  const int given = int{!tls.cert_file.empty()} + int{!tls.key_file.empty()} + int{!tls.ca_file.empty()};
  if (given == 0) return absl::OkStatus();
  if (given != 3) return absl::InvalidArgumentError("give all of --tls_cert, --tls_key and --tls_ca, or none");
  if (auto s = CheckPem("tls_cert", tls.cert_file, "BEGIN CERTIFICATE"); !s.ok()) return s;
  if (auto s = CheckPem("tls_key", tls.key_file, "PRIVATE KEY"); !s.ok()) return s;
  return CheckPem("tls_ca", tls.ca_file, "BEGIN CERTIFICATE");
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsConfig& tls, ClientCerts client_certs) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(tls));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  switch (client_certs) {
    case ClientCerts::kNone:
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      break;
    case ClientCerts::kVerifyIfGiven:
      options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
    case ClientCerts::kRequire:
      options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakePeerChannelCredentials(const TlsConfig& tls, bool check_name) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(tls));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  if (!check_name) {
    options.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    options.set_check_call_host(false);
  }
  return grpc::experimental::TlsCredentials(options);
}

void SetPeerTargetName(grpc::ChannelArguments& args, uint64_t node) {
  args.SetSslTargetNameOverride(NodeCertName(node));
}

std::set<uint64_t> CertifiedNodes(const grpc::AuthContext& auth) {
  std::set<uint64_t> out;
  if (!auth.IsPeerAuthenticated()) return out;
  for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
      const std::string name(value.data(), value.size());
      uint64_t id = 0;
      if (absl::StartsWith(name, "node-") && absl::SimpleAtoi(name.substr(5), &id) && id != 0) out.insert(id);
    }
  }
  return out;
}

absl::Status CheckCertifiedNode(const grpc::AuthContext& auth, uint64_t claimed) {
  const std::set<uint64_t> named = CertifiedNodes(auth);
  if (named.contains(claimed)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("the stream claims node ", claimed, " but its certificate names ",
                   named.empty() ? std::string("no node") : absl::StrJoin(named, ","), " (it must name ",
                   NodeCertName(claimed), ")"));
}

}  // namespace brook::server
