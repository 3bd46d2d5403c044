#include "server/transport/join.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "brook/internal/transport.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/common/log.h"
#include "server/transport/peer_auth.h"

namespace brook::server {
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Worth asking again: the member is down or busy, or the cluster has no controller yet.
bool Transient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::ABORTED || code == grpc::StatusCode::CANCELLED;
}

}  // namespace

absl::StatusOr<internal::JoinResponse> JoinCluster(const std::string& address, const std::string& secret,
                                                   const internal::JoinRequest& request,
                                                   std::chrono::milliseconds timeout, const TlsConfig& tls) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string target = address;
  std::string last = "no answer yet";
  for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
    // With TLS the joining node does not know whom it dials (any member, or the controller it names): the
    // member's certificate is checked against the cluster CA only.
    auto stub = internal::NodeTransport::NewStub(
        grpc::CreateChannel(target, tls.enabled() ? MakePeerChannelCredentials(tls, /*check_name=*/false)
                                                  : grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    context.set_deadline(std::chrono::system_clock::now() +
                         std::clamp(left, std::chrono::milliseconds(100), std::chrono::milliseconds(3000)));
    context.AddMetadata(kPeerAuthHeader,
                        PeerAuthToken(secret, request.cluster_id(), 0, request.incarnation(), NowUnixMs()));
    internal::JoinResponse response;
    grpc::Status s = stub->Join(&context, request, &response);
    if (s.ok() && response.node_id() != 0) return response;
    if (!s.ok() && !Transient(s.error_code())) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                          absl::StrCat("node ", target, " refused the join: ", s.error_message()));
    }
    if (s.ok() && !response.controller_peer_address().empty()) {
      target = response.controller_peer_address();  // ask the controller itself
      last = absl::StrCat("sent on to the controller at ", target);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    last = s.ok() ? "the cluster has no controller yet" : absl::StrCat(target, ": ", s.error_message());
    if (attempt % 10 == 0) LogInfo("joining the cluster through ", target, ": ", last, "; asking again");
    if (!s.ok()) target = address;  // the controller may have moved: start over from the member named
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no member admitted this node within ", timeout.count(), " ms (last: ", last, ")"));
}

}  // namespace brook::server
