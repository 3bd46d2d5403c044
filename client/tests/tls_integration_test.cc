// TLS on a live 3-node cluster (docs/security.md), certificates from scripts/make-certs.sh: a TLS client (library
// and CLI) produces and reads; a plaintext client and a client trusting another CA are refused; a node's
// certificate replaced on disk is served to new connections without a restart.
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/lib/admin.h"
#include "client/lib/consumer.h"
#include "client/lib/producer.h"
#include "client/tests/subprocess.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace brook::client::testing {
namespace {

using namespace std::chrono_literals;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/brook-tls-", getpid()));
    for (const char* ca : {"ca", "other"}) MakeCerts(absl::StrCat(*dir_, "/", ca));
    brook::testing::ClusterOptions options;
    options.tls_dir = *dir_ + "/ca";
    auto cluster = brook::testing::Cluster::Start(options, 60s);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() { delete cluster_; }
  static void MakeCerts(const std::string& dir) {
    const std::string cmd =
        absl::StrCat("bash ", BROOK_SOURCE_DIR, "/scripts/make-certs.sh ", dir, " 3 > /dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }

  static absl::StatusOr<std::shared_ptr<Connection>> Connect(const std::string& ca_dir,
                                                             std::chrono::milliseconds timeout = 10s) {
    ClientOptions o;
    o.bootstrap = cluster_->client_addresses();
    o.request_timeout = 2s;
    o.call_timeout = timeout;
    if (!ca_dir.empty()) o.tls_ca_file = ca_dir + "/ca.pem";
    return Connection::Create(o);
  }

  ProcessResult Brook(std::vector<std::string> args) {
    std::vector<std::string> argv = {BROOK_CLI_PATH, "--bootstrap=" + cluster_->bootstrap(), "--timeout-ms=5000"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, "", 60s);
    last_ = absl::StrCat("brook ", absl::StrJoin(args, " "), "\nexit ", r.exit_code, "\nstdout:\n", r.out,
                         "\nstderr:\n", r.err);
    return r;
  }

  // The serial number of the certificate node 1 serves to a new connection.
  static std::string ServedSerial() {
    const std::string cmd =
        absl::StrCat("echo | openssl s_client -connect ", cluster_->node(1).client_address, " -CAfile ", *dir_,
                     "/ca/ca.pem 2>/dev/null | openssl x509 -noout -serial");
    auto r = RunProcess({"/bin/sh", "-c", cmd}, "", 20s);
    return r.out;
  }

  static std::string* dir_;
  static brook::testing::Cluster* cluster_;
  std::string last_;
};
std::string* TlsTest::dir_ = nullptr;
brook::testing::Cluster* TlsTest::cluster_ = nullptr;

TEST_F(TlsTest, TlsClientsWorkAndPlaintextOrAnotherCaIsRefused) {
  auto connection = Connect(*dir_ + "/ca");
  ASSERT_TRUE(connection.ok()) << connection.status();
  Admin admin(*connection);
  ASSERT_TRUE(admin.CreateTopic("secure", 2, 3).ok());
  ASSERT_TRUE(admin.WaitForLeaders("secure", 20s).ok());
  auto producer = Producer::Create(*connection);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 50; ++i) {
    v1::Record r;
    r.set_key(absl::StrCat("k", i));
    r.set_value("over tls");
    ASSERT_TRUE((*producer)->Send("secure", std::move(r)).get().ok());
  }
  auto consumer = Consumer::Create(*connection);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign("secure").ok());
  ASSERT_TRUE((*consumer)->Seek(OffsetSpec::kEarliest).ok());
  size_t read = 0;
  for (int i = 0; i < 50 && read < 50; ++i) {
    auto batch = (*consumer)->Poll(500ms);
    ASSERT_TRUE(batch.ok()) << batch.status();
    read += batch->records.size();
  }
  EXPECT_EQ(read, 50u);

  // Plaintext, and TLS trusting another CA: no call gets through.
  for (const std::string& ca : {std::string(), *dir_ + "/other"}) {
    auto other = Connect(ca, 3s);
    ASSERT_TRUE(other.ok());
    auto cluster = Admin(*other).DescribeCluster();
    EXPECT_FALSE(cluster.ok()) << (ca.empty() ? "a plaintext client was served"
                                              : "a client of another CA was served");
  }

  // The CLI: --tls-ca speaks TLS; without it, it fails with an error.
  ProcessResult r = Brook({"--tls-ca=" + *dir_ + "/ca/ca.pem", "topic", "list"});
  EXPECT_EQ(r.exit_code, 0) << last_;
  EXPECT_NE(r.out.find("secure"), std::string::npos) << last_;
  r = Brook({"topic", "list"});
  EXPECT_NE(r.exit_code, 0) << last_;
  r = Brook({"--tls-ca=/nonexistent/ca.pem", "topic", "list"});
  EXPECT_EQ(r.exit_code, 2) << last_;
  EXPECT_NE(r.err.find("cannot be read"), std::string::npos) << last_;
}

TEST_F(TlsTest, ANodesCertificateReplacedOnDiskIsServedWithoutARestart) {
  const std::string before = ServedSerial();
  ASSERT_NE(before.find("serial="), std::string::npos) << before;
  // New certificates from the same CA, moved over node 1's files.
  const std::string renewed = *dir_ + "/renewed";
  std::filesystem::create_directories(renewed);
  for (const char* f : {"ca.pem", "ca.key"}) {
    std::filesystem::copy_file(*dir_ + "/ca/" + f, renewed + "/" + f,
                               std::filesystem::copy_options::overwrite_existing);
  }
  MakeCerts(renewed);
  for (const char* f : {"node-1.key", "node-1.pem"}) {
    std::filesystem::copy_file(renewed + "/" + f, *dir_ + "/ca/" + f + std::string(".new"),
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(*dir_ + "/ca/" + f + std::string(".new"), *dir_ + "/ca/" + f);
  }
  std::string after = before;
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (after == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1s);
    after = ServedSerial();
  }
  EXPECT_NE(after, before) << "node 1 still serves its old certificate";
  EXPECT_NE(after.find("serial="), std::string::npos) << after;
  auto connection = Connect(*dir_ + "/ca");
  ASSERT_TRUE(connection.ok());
  EXPECT_TRUE(Admin(*connection).DescribeCluster().ok()) << "clients still connect";
  EXPECT_TRUE(cluster_->CheckAlive(1).ok()) << "no restart";
}

}  // namespace
}  // namespace brook::client::testing
