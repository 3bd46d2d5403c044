// The clients as a user installs them, against a live cluster: the Python client pip-installed into a fresh venv
// (offline, on Debian's grpcio and protobuf) runs the consumer-group example, the checkout's Python client passes
// the group protocol checks, and the Node.js client packed with `npm pack` and installed into a fresh folder runs
// its example there. Neither installed client can see the checkout's proto/: the packages carry what they need.
// PackagesTlsTest: the checkout's Python and Node.js clients against a TLS cluster (docs/security.md), with their
// options taken from BROOK_TLS_CA, BROOK_TLS_CERT and BROOK_TLS_KEY.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>

#include "absl/strings/str_cat.h"
#include "client/lib/admin.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"

namespace brook::client::testing {
namespace {

namespace fs = std::filesystem;

std::string Show(const ProcessResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

// A fresh directory under the test's temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/brook-packages-XXXXXX";
    // TempDir() ends in '/', and python and npm print canonical paths.
    path_ = fs::canonical(mkdtemp(pattern.data())).string();
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class PackagesTest : public LiveCluster {
 protected:
  const std::string source_ = BROOK_SOURCE_DIR;
};

// A copy of the checkout's client/python and proto/ (the layout the build hook expects), so that the build leaves
// nothing in the source tree; then a venv that sees Debian's packages, and `pip install` without any index.
TEST_F(PackagesTest, PipInstalledPythonClientRunsTheGroupExample) {
  CreateTopic("packages-py", 4);
  TempDir tmp;
  const std::string tree = tmp.path() + "/checkout";
  fs::create_directories(tree + "/client");
  fs::copy(source_ + "/client/python", tree + "/client/python", fs::copy_options::recursive);
  fs::copy(source_ + "/proto", tree + "/proto", fs::copy_options::recursive);
  for (const char* leftover : {"/client/python/build", "/client/python/brook_client.egg-info"}) {
    fs::remove_all(tree + leftover);
  }

  const std::string venv = tmp.path() + "/venv";
  auto made =
      RunProcess({"/usr/bin/python3", "-m", "venv", "--system-site-packages", venv}, "", std::chrono::seconds(60));
  ASSERT_EQ(made.exit_code, 0) << Show(made);
  auto pip = RunProcess({venv + "/bin/pip", "install", "--no-build-isolation", "--no-index",
                         "--disable-pip-version-check", tree + "/client/python"},
                        "", std::chrono::seconds(120));
  ASSERT_EQ(pip.exit_code, 0) << Show(pip);
  fs::remove_all(tree);  // the installed package must not need the checkout

  // Installed into the venv, with the stubs inside it; nothing generated at import (HOME has no cache).
  const std::map<std::string, std::string> env = {{"HOME", tmp.path()}, {"PYTHONPATH", ""}};
  auto where = RunProcess({venv + "/bin/python", "-c",
                           "import brookclient, brook.v1.groups_pb2_grpc as g; "
                           "print(brookclient.__file__); print(g.__file__); print(brookclient.GroupConsumer)"},
                          "", std::chrono::seconds(30), env);
  ASSERT_EQ(where.exit_code, 0) << Show(where);
  EXPECT_NE(where.out.find(venv + "/lib/"), std::string::npos) << where.out;
  EXPECT_EQ(where.out.find(source_), std::string::npos) << "imported from the checkout:\n" << where.out;
  EXPECT_FALSE(fs::exists(tmp.path() + "/.cache/brook-py")) << "the installed client generated stubs";

  auto example = RunProcess(
      {venv + "/bin/python", source_ + "/client/python/examples/group_example.py",
       "--bootstrap=" + cluster_->bootstrap(), "--topic=packages-py", "--group=packages-example", "--records=200"},
      "", std::chrono::seconds(90), env);
  ASSERT_EQ(example.exit_code, 0) << Show(example);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(example.out, m, std::regex(R"re("records": 200, "read": 200, "missing": 0)re")))
      << Show(example);
  std::cout << "group example: " << example.out;
}

// Two members, a replaced static member, a silent member and the partition-store fallback (group_rules_check.py),
// with the checkout's client (stubs generated into the build tree's cache, as the other Python tests do).
TEST_F(PackagesTest, PythonGroupConsumerFollowsTheGroupProtocol) {
  CreateTopic("packages-rules", 4);
  auto producer = Producer::Create(connection_);
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (uint32_t p = 0; p < 4; ++p) {
    for (int i = 0; i < 10; ++i) {
      v1::Record r;
      r.set_value(absl::StrCat("record ", p, "-", i));
      acks.push_back((*producer)->Send("packages-rules", std::move(r), p));
    }
  }
  (*producer)->Flush();
  for (auto& ack : acks) {
    auto m = ack.get();
    ASSERT_TRUE(m.ok()) << m.status();
  }
  auto r = RunProcess({"/usr/bin/python3", source_ + "/client/python/group_rules_check.py",
                       "--bootstrap=" + cluster_->bootstrap(), "--topic=packages-rules"},
                      "", std::chrono::seconds(90),
                      {{"PYTHONPATH", source_ + "/client/python"},
                       {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"}});
  ASSERT_EQ(r.exit_code, 0) << Show(r);
  for (const char* check : {"ok not_owner_commit_is_refused", "ok replaced_static_member_is_out",
                            "ok silent_member_drops_its_partitions", "ok starts_at_partition_store_offset"}) {
    EXPECT_NE(r.out.find(check), std::string::npos) << check << " missing:\n" << Show(r);
  }
}

// `npm pack` in client/node (prepack copies the protos in), then `npm install` of the tarball into an empty
// folder (dependencies from the npm registry), and the example run from that folder with require('brook-client').
TEST_F(PackagesTest, PackedNodeClientRunsItsExampleFromAnotherFolder) {
  CreateTopic("packages-node", 3);
  TempDir tmp;
  auto pack = RunProcess({"sh", "-c", "cd \"$0\" && npm pack --pack-destination \"$1\" --silent",
                          source_ + "/client/node", tmp.path()},
                         "", std::chrono::seconds(60));
  ASSERT_EQ(pack.exit_code, 0) << Show(pack);
  const std::string tarball = tmp.path() + "/brook-client-0.1.0.tgz";
  ASSERT_TRUE(fs::exists(tarball)) << Show(pack);
  EXPECT_FALSE(fs::exists(source_ + "/client/node/proto")) << "postpack left the proto copy in the checkout";

  const std::string app = tmp.path() + "/app";
  fs::create_directories(app);
  auto install = RunProcess({"npm", "install", "--prefix", app, "--no-audit", "--no-fund", tarball}, "",
                            std::chrono::seconds(180));
  ASSERT_EQ(install.exit_code, 0) << Show(install);
  const std::string installed = app + "/node_modules/brook-client";
  ASSERT_FALSE(fs::is_symlink(installed)) << "npm linked the checkout instead of installing a copy";
  EXPECT_TRUE(fs::exists(installed + "/proto/brook/v1/groups.proto"));
  fs::copy_file(source_ + "/client/node/example.js", app + "/example.js");

  auto run = RunProcess({"node", app + "/example.js", "packages-node"}, "", std::chrono::seconds(60),
                        {{"BROOK_BOOTSTRAP", cluster_->bootstrap()}, {"NODE_PATH", ""}});
  ASSERT_EQ(run.exit_code, 0) << Show(run);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::regex_search(run.out, std::regex(absl::StrCat("produced user-", i, " to packages-node/"))))
        << Show(run);
    EXPECT_TRUE(std::regex_search(run.out, std::regex(absl::StrCat("\tuser-", i, "\thello ", i, "\n"))))
        << Show(run);
  }
}

// A 3-node TLS cluster (certificates from scripts/make-certs.sh for localhost and 127.0.0.1, and a client
// certificate "app"), shared by the tests below.
class PackagesTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(absl::StrCat(::testing::TempDir(), "/brook-packages-tls-", getpid()));
    const std::string cmd = absl::StrCat("bash ", BROOK_SOURCE_DIR, "/scripts/make-certs.sh ", *certs_,
                                         " 3 localhost,127.0.0.1 app > /dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    brook::testing::ClusterOptions options;
    options.tls_dir = *certs_;
    auto cluster = brook::testing::Cluster::Start(options, std::chrono::seconds(60));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    if (certs_ != nullptr) {
      std::error_code ignored;
      fs::remove_all(*certs_, ignored);
    }
    delete certs_;
  }
  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- node " << n.id << " log tail ----\n" << cluster_->LogTail(n.id, 15) << "\n";
      }
    }
  }

  // Creates `name` (3 partitions) with the C++ client over TLS and waits for its leaders.
  void CreateTopic(const std::string& name) {
    ClientOptions o;
    o.bootstrap = cluster_->client_addresses();
    o.request_timeout = std::chrono::milliseconds(3000);
    o.call_timeout = std::chrono::milliseconds(20000);
    o.tls_ca_file = *certs_ + "/ca.pem";
    auto connection = Connection::Create(o);
    ASSERT_TRUE(connection.ok()) << connection.status();
    Admin admin(*connection);
    auto created = admin.CreateTopic(name, 3, 3);
    ASSERT_TRUE(created.ok()) << created.status();
    auto ready = admin.WaitForLeaders(name, std::chrono::seconds(20));
    ASSERT_TRUE(ready.ok()) << ready.status();
  }

  // The client environment: TLS with the client certificate "app" (every variable is set, "" for none, so that
  // the test's own environment cannot leak in).
  static std::map<std::string, std::string> Env(bool tls, const std::string& token = "") {
    return {{"BROOK_TLS_CA", tls ? *certs_ + "/ca.pem" : ""},
            {"BROOK_TLS_CERT", tls ? *certs_ + "/client-app.pem" : ""},
            {"BROOK_TLS_KEY", tls ? *certs_ + "/client-app.key" : ""},
            {"BROOK_TOKEN", token},
            {"PYTHONPATH", std::string(BROOK_SOURCE_DIR) + "/client/python"},
            {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"},
            {"NODE_PATH", NodeModules()}};
  }

  // client/python/tls_check.py or client/node/tls_check.js on `topic` (bootstrap 127.0.0.1, the IP the node
  // certificates name; Node also dials "localhost", a DNS name they carry).
  static ProcessResult Check(const std::string& language, const std::string& topic,
                             const std::map<std::string, std::string>& env, bool localhost = false) {
    std::string bootstrap = cluster_->bootstrap();
    if (localhost) bootstrap = std::regex_replace(bootstrap, std::regex("127\\.0\\.0\\.1"), "localhost");
    const std::vector<std::string> args = {"--bootstrap=" + bootstrap, "--topic=" + topic, "--count=20"};
    std::vector<std::string> argv;
    if (language == "python") {
      argv = {"/usr/bin/python3", std::string(BROOK_SOURCE_DIR) + "/client/python/tls_check.py"};
    } else {
      argv = {"node", std::string(BROOK_SOURCE_DIR) + "/client/node/tls_check.js"};
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, "", std::chrono::seconds(60), env);
  }

  // The checkout's Node.js client needs @grpc/grpc-js and friends: those client_node_deps installs, installed here
  // the same way when that test has not run.
  static std::string NodeModules() {
    const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
    if (!fs::exists(deps + "/node_modules/@grpc/grpc-js") || !fs::exists(deps + "/node_modules/fzstd")) {
      fs::create_directories(deps);
      fs::copy_file(std::string(BROOK_SOURCE_DIR) + "/client/node/package.json", deps + "/package.json",
                    fs::copy_options::overwrite_existing);
      auto install = RunProcess({"npm", "install", "--prefix", deps, "--no-audit", "--no-fund"}, "",
                                std::chrono::seconds(180));
      EXPECT_EQ(install.exit_code, 0) << Show(install);
    }
    return deps + "/node_modules";
  }

  static std::string* certs_;
  static brook::testing::Cluster* cluster_;
};
std::string* PackagesTlsTest::certs_ = nullptr;
brook::testing::Cluster* PackagesTlsTest::cluster_ = nullptr;

TEST_F(PackagesTlsTest, PythonAndNodeClientsProduceAndReadOverTls) {
  CreateTopic("tls-py");
  CreateTopic("tls-node");
  auto py = Check("python", "tls-py", Env(true));
  EXPECT_EQ(py.exit_code, 0) << Show(py);
  EXPECT_NE(py.out.find(R"("produced": 20, "read": 20)"), std::string::npos) << Show(py);
  auto node = Check("node", "tls-node", Env(true), /*localhost=*/true);
  EXPECT_EQ(node.exit_code, 0) << Show(node);
  EXPECT_NE(node.out.find(R"("produced":20,"read":20)"), std::string::npos) << Show(node);
}

TEST_F(PackagesTlsTest, PlaintextClientsAreRefusedWithAClearError) {
  CreateTopic("tls-refused");
  const auto start = std::chrono::steady_clock::now();
  auto py = Check("python", "tls-refused", Env(false));
  EXPECT_EQ(py.exit_code, 1) << Show(py);
  EXPECT_NE(py.out.find(R"("code": "UNAVAILABLE")"), std::string::npos) << Show(py);
  EXPECT_NE(py.out.find("give tls_ca_file or BROOK_TLS_CA"), std::string::npos) << Show(py);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << "refused at once";
  auto node = Check("node", "tls-refused", Env(false));
  EXPECT_EQ(node.exit_code, 1) << Show(node);
  EXPECT_NE(node.out.find(R"("code":"UNAVAILABLE")"), std::string::npos) << Show(node);
  EXPECT_NE(node.out.find("give tlsCaFile or BROOK_TLS_CA"), std::string::npos) << Show(node);

  // A CA file that cannot be read is a usage error naming the option, before any call.
  auto env = Env(true);
  env["BROOK_TLS_CA"] = *certs_ + "/missing-ca.pem";
  py = Check("python", "tls-refused", env);
  EXPECT_EQ(py.exit_code, 2) << Show(py);
  EXPECT_NE(py.out.find("tls_ca_file: TLS CA file '" + *certs_ + "/missing-ca.pem' cannot be read"),
            std::string::npos)
      << Show(py);
  node = Check("node", "tls-refused", env);
  EXPECT_EQ(node.exit_code, 2) << Show(node);
  EXPECT_NE(node.out.find("tlsCaFile: TLS CA file '" + *certs_ + "/missing-ca.pem' cannot be read"),
            std::string::npos)
      << Show(node);
}

}  // namespace
}  // namespace brook::client::testing
