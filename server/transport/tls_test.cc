// Mutual TLS between nodes (tls.h) over real gRPC on loopback, with certificates made by scripts/make-certs.sh:
// two nodes of one CA that name themselves hear each other; a node whose certificate names another node, one whose
// certificate is of another CA, and one without TLS are never heard.
#include "server/transport/tls.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/transport/transport.h"

namespace brook::server {
namespace {

using namespace std::chrono_literals;

class TransportTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/brook-tls-", getpid()));
    for (const char* ca : {"ca", "other"}) {
      const std::string cmd =
          absl::StrCat("bash ", BROOK_SOURCE_DIR, "/scripts/make-certs.sh ", *dir_, "/", ca, " 3 > /dev/null");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static TlsConfig Certs(const std::string& ca, uint64_t named) {
    const std::string d = absl::StrCat(*dir_, "/", ca, "/");
    return {absl::StrCat(d, "node-", named, ".pem"), absl::StrCat(d, "node-", named, ".key"), d + "ca.pem"};
  }

  struct Node {
    std::unique_ptr<Transport> transport;
    std::unique_ptr<grpc::Server> server;
    std::string address;
  };
  // Node `self` serving its node-to-node port with `tls` (plaintext when disabled).
  static Node Start(uint64_t self, const TlsConfig& tls) {
    Transport::Options o;
    o.self = self;
    o.cluster_id = "c";
    o.secret = "0123456789abcdef0123456789abcdef";
    o.tls = tls;
    o.heard_window = 300ms;
    Node n;
    n.transport = std::make_unique<Transport>(o, [](internal::MessageBatch&&) {});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(
        "127.0.0.1:0",
        tls.enabled() ? MakeServerCredentials(tls, ClientCerts::kRequire) : grpc::InsecureServerCredentials(),
        &port);
    builder.RegisterService(n.transport->service());
    n.server = builder.BuildAndStart();
    n.address = absl::StrCat("127.0.0.1:", port);
    return n;
  }
  // Nodes 1 and 2 with these certificates, each told of the other; true once each hears the other.
  static bool HearEachOther(const TlsConfig& one, const TlsConfig& two, uint64_t* refused_by_one = nullptr) {
    Node a = Start(1, one);
    Node b = Start(2, two);
    a.transport->AddPeer(2, b.address);
    b.transport->AddPeer(1, a.address);
    a.transport->Start();
    b.transport->Start();
    bool heard = false;
    for (int i = 0; i < 60 && !heard; ++i) {
      std::this_thread::sleep_for(50ms);
      heard = a.transport->reachable(2) && b.transport->reachable(1);
    }
    if (!heard) std::this_thread::sleep_for(1s);  // give a refusal time to be counted
    if (refused_by_one != nullptr) *refused_by_one = a.transport->rejections().unauthenticated_streams.load();
    a.transport->Stop();
    b.transport->Stop();
    a.server->Shutdown();
    b.server->Shutdown();
    return heard;
  }

  static std::string* dir_;
};
std::string* TransportTls::dir_ = nullptr;

TEST_F(TransportTls, NodesOfOneCaThatNameThemselvesHearEachOther) {
  EXPECT_TRUE(HearEachOther(Certs("ca", 1), Certs("ca", 2)));
}

TEST_F(TransportTls, ANodeWhoseCertificateNamesAnotherNodeIsNotHeard) {
  uint64_t refused = 0;
  EXPECT_FALSE(HearEachOther(Certs("ca", 1), Certs("ca", 3), &refused))
      << "node 2 holds node 3's certificate: it must not speak as node 2";
  EXPECT_GT(refused, 0u) << "node 1 refused its streams (the certificate does not name node 2)";
}

TEST_F(TransportTls, ANodeOfAnotherCaOrWithoutTlsIsNotHeard) {
  EXPECT_FALSE(HearEachOther(Certs("ca", 1), Certs("other", 2)));
  EXPECT_FALSE(HearEachOther(Certs("ca", 1), TlsConfig{}));
}

TEST(TlsFiles, AllOrNoneAndReadablePem) {
  EXPECT_TRUE(CheckTlsFiles({}).ok());
  EXPECT_EQ(CheckTlsFiles({"a.pem", "", ""}).code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = CheckTlsFiles({"/nonexistent.pem", "/nonexistent.key", "/nonexistent-ca.pem"});
  EXPECT_NE(s.message().find("--tls_cert=/nonexistent.pem: cannot be read"), std::string::npos) << s;
}

}  // namespace
}  // namespace brook::server
