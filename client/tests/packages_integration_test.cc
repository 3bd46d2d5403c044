// The clients as a user installs them, against a live cluster: the Python client pip-installed into a fresh venv
// (offline, on Debian's grpcio and protobuf) runs the consumer-group example, the checkout's Python client passes
// the group protocol checks, and the Node.js client packed with `npm pack` and installed into a fresh folder runs
// its example there. Neither installed client can see the checkout's proto/: the packages carry what they need.
// PackagesTlsTest: the checkout's Python and Node.js clients against a TLS cluster (docs/security.md), with their
// options taken from BROOK_TLS_CA, BROOK_TLS_CERT and BROOK_TLS_KEY. PackagesAuthTest: the same clients against a
// TLS cluster that checks tokens and ACLs (BROOK_TOKEN): the token's principal is served what an ACL grants it,
// refused with PERMISSION_DENIED elsewhere, and a wrong or missing token is refused with UNAUTHENTICATED.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lib/admin.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"

// The brook CLI (brook token new, acl add): built next to this test, in the build tree's client/.
#ifndef BROOK_CLI_PATH
#define BROOK_CLI_PATH BROOK_CLIENT_BINARY_DIR "/brook"
#endif

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
    MakeCerts();
    StartCluster({}, "");
  }
  // Certificates in a fresh directory (certs_).
  static void MakeCerts() {
    certs_ = new std::string(absl::StrCat(::testing::TempDir(), "/brook-packages-tls-", getpid()));
    const std::string cmd = absl::StrCat("bash ", BROOK_SOURCE_DIR, "/scripts/make-certs.sh ", *certs_,
                                         " 3 localhost,127.0.0.1 app > /dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  // The TLS cluster (cluster_), with `extra_flags` on every node; the harness's readiness check sends `token`.
  static void StartCluster(std::vector<std::string> extra_flags, const std::string& token) {
    brook::testing::ClusterOptions options;
    options.tls_dir = *certs_;
    options.extra_flags = std::move(extra_flags);
    options.token = token;
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

  // Creates `name` (3 partitions) with the C++ client over TLS, sending `token` if any; waits for its leaders.
  void CreateTopic(const std::string& name, const std::string& token = "") {
    ClientOptions o;
    o.bootstrap = cluster_->client_addresses();
    o.request_timeout = std::chrono::milliseconds(3000);
    o.call_timeout = std::chrono::milliseconds(20000);
    o.tls_ca_file = *certs_ + "/ca.pem";
    o.token = token;
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
  // With `whoami` it first asks brook.v1.Access.WhoAmI ("principal" and "method" in its output).
  static ProcessResult Check(const std::string& language, const std::string& topic,
                             const std::map<std::string, std::string>& env, bool localhost = false,
                             bool whoami = false) {
    std::string bootstrap = cluster_->bootstrap();
    if (localhost) bootstrap = std::regex_replace(bootstrap, std::regex("127\\.0\\.0\\.1"), "localhost");
    std::vector<std::string> args = {"--bootstrap=" + bootstrap, "--topic=" + topic, "--count=20"};
    if (whoami) args.push_back("--whoami");
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

// A 3-node TLS cluster that authenticates by token (--auth_tokens_file with the tokens of admin and alice, made by
// `brook token new`) and authorizes by ACL (--authorization: deny by default; admin is a superuser).
class PackagesAuthTest : public PackagesTlsTest {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(fs::exists(kCli)) << kCli << " is missing: build the brook target";
    MakeCerts();
    if (HasFatalFailure()) return;
    std::string admin_line, alice_line;
    admin_token_ = NewToken("admin", &admin_line);
    alice_token_ = NewToken("alice", &alice_line);
    if (HasFailure()) return;
    const std::string tokens = *certs_ + "/tokens";
    { std::ofstream(tokens) << "# made by brook token new\n" << admin_line << "\n" << alice_line << "\n"; }
    StartCluster({"--auth_tokens_file=" + tokens, "--authorization", "--superusers=admin"}, admin_token_);
  }

  // `brook token new NAME --output=json`: the token, and in `line` the line of --auth_tokens_file with its hash.
  static std::string NewToken(const std::string& name, std::string* line) {
    auto r = RunProcess({kCli, "token", "new", name, "--output=json"}, "", std::chrono::seconds(10));
    EXPECT_EQ(r.exit_code, 0) << Show(r);
    static const std::regex kJson(R"re(^\{"name":"(\w+)","token":"([0-9a-f]{64})",)re"
                                  R"re("tokens_file_line":"(\w+ sha256:[0-9a-f]{64})"\}\n$)re");
    std::smatch m;
    if (!std::regex_search(r.out, m, kJson) || m[1] != name || m[3].str().rfind(name + " ", 0) != 0) {
      ADD_FAILURE() << "brook token new " << name << ": " << Show(r);
      return "";
    }
    *line = m[3];
    return m[2];
  }

  // The brook CLI over TLS with `token`, JSON output, against `bootstrap` (the whole cluster when empty).
  static ProcessResult Cli(const std::vector<std::string>& args, const std::string& token,
                           const std::string& bootstrap = "") {
    std::vector<std::string> argv = {kCli,
                                     "--bootstrap=" + (bootstrap.empty() ? cluster_->bootstrap() : bootstrap),
                                     "--tls-ca=" + *certs_ + "/ca.pem",
                                     "--token=" + token,
                                     "--output=json",
                                     "--timeout-ms=10000"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, "", std::chrono::seconds(30),
                      {{"BROOK_TOKEN", ""}, {"BROOK_TLS_CERT", ""}, {"BROOK_TLS_KEY", ""}});
  }

  // Check() with its run time.
  static ProcessResult TimedCheck(const std::string& language, const std::string& topic,
                                  const std::map<std::string, std::string>& env, bool whoami,
                                  std::chrono::steady_clock::duration* took) {
    const auto start = std::chrono::steady_clock::now();
    auto r = Check(language, topic, env, /*localhost=*/false, whoami);
    *took = std::chrono::steady_clock::now() - start;
    return r;
  }

  static constexpr const char* kCli = BROOK_CLI_PATH;
  inline static std::string admin_token_;
  inline static std::string alice_token_;
};

TEST_F(PackagesAuthTest, PythonAndNodeClientsAuthenticateByTokenAndObeyAcls) {
  ASSERT_NE(cluster_, nullptr);
  const auto npos = std::string::npos;
  auto me = Cli({"whoami"}, admin_token_);
  ASSERT_EQ(me.exit_code, 0) << Show(me);
  EXPECT_NE(me.out.find(R"({"principal":"admin","method":"token","superuser":true,"authorization":true})"), npos)
      << Show(me);

  // admin makes the topics and lets alice produce to and consume from auth-alice only.
  CreateTopic("auth-alice", admin_token_);
  CreateTopic("auth-other", admin_token_);
  for (const char* action : {"produce", "consume"}) {
    auto added = Cli({"acl", "add", "alice", action, "topic:auth-alice"}, admin_token_);
    ASSERT_EQ(added.exit_code, 0) << Show(added);
  }
  // Each node answers ListAcls from the metadata it has applied: wait until every node has both rules, since the
  // clients may ask any of them.
  for (const auto& n : cluster_->nodes()) {
    ProcessResult listed;
    bool both = false;
    for (int i = 0; i < 50 && !both; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      listed = Cli({"acl", "list", "--principal=alice"}, admin_token_, n.client_address);
      both =
          listed.exit_code == 0 &&
          listed.out.find(R"({"principal":"alice","action":"produce","resource":"topic:auth-alice"})") != npos &&
          listed.out.find(R"({"principal":"alice","action":"consume","resource":"topic:auth-alice"})") != npos;
    }
    ASSERT_TRUE(both) << "node " << n.id << " lacks alice's rules: " << Show(listed);
  }

  struct Language {
    std::string name;
    std::string (*json)(const std::string& key, const std::string& value);  // "key": value as the script prints it
  };
  const std::vector<Language> languages = {
      {"python", [](const std::string& k, const std::string& v) { return absl::StrCat("\"", k, "\": ", v); }},
      {"node", [](const std::string& k, const std::string& v) { return absl::StrCat("\"", k, "\":", v); }},
  };
  const auto kQuick = std::chrono::seconds(10);  // a refusal is final: no retries until a deadline
  std::chrono::steady_clock::duration took;
  for (const auto& lang : languages) {
    SCOPED_TRACE(lang.name);
    // alice, by her token: WhoAmI names her, and she produces 20 records and reads them back.
    auto ok = TimedCheck(lang.name, "auth-alice", Env(true, alice_token_), /*whoami=*/true, &took);
    EXPECT_EQ(ok.exit_code, 0) << Show(ok);
    EXPECT_NE(ok.out.find(lang.json("principal", "\"alice\"")), npos) << Show(ok);
    EXPECT_NE(ok.out.find(lang.json("method", "\"TOKEN\"")), npos) << Show(ok);
    EXPECT_NE(ok.out.find(lang.json("produced", "20") + "," + (lang.name == "python" ? " " : "") +
                          lang.json("read", "20")),
              npos)
        << Show(ok);

    // A token the nodes do not know: UNAUTHENTICATED on the first produce, at once.
    auto wrong = TimedCheck(lang.name, "auth-alice", Env(true, std::string(64, '0')), /*whoami=*/false, &took);
    EXPECT_EQ(wrong.exit_code, 1) << Show(wrong);
    EXPECT_NE(wrong.out.find(lang.json("code", "\"UNAUTHENTICATED\"")), npos) << Show(wrong);
    EXPECT_NE(wrong.out.find("the token is not known to this node"), npos) << Show(wrong);
    EXPECT_EQ(wrong.out.find("\"produced\""), npos) << Show(wrong);
    EXPECT_LT(took, kQuick) << Show(wrong);

    // No token at all (the client certificate "app" does not authenticate without --auth_mtls).
    auto none = TimedCheck(lang.name, "auth-alice", Env(true, ""), /*whoami=*/true, &took);
    EXPECT_EQ(none.exit_code, 1) << Show(none);
    EXPECT_NE(none.out.find(lang.json("code", "\"UNAUTHENTICATED\"")), npos) << Show(none);
    EXPECT_NE(none.out.find("this node needs a token"), npos) << Show(none);
    EXPECT_EQ(none.out.find("\"principal\""), npos) << Show(none);
    EXPECT_LT(took, kQuick) << Show(none);

    // alice on a topic no rule lets her use: she is authenticated, and refused with PERMISSION_DENIED.
    auto denied = TimedCheck(lang.name, "auth-other", Env(true, alice_token_), /*whoami=*/true, &took);
    EXPECT_EQ(denied.exit_code, 1) << Show(denied);
    EXPECT_NE(denied.out.find(lang.json("principal", "\"alice\"")), npos) << Show(denied);
    EXPECT_NE(denied.out.find(lang.json("code", "\"PERMISSION_DENIED\"")), npos) << Show(denied);
    EXPECT_NE(denied.out.find("principal 'alice' may not"), npos) << Show(denied);
    EXPECT_NE(denied.out.find("'auth-other'"), npos) << Show(denied);
    EXPECT_EQ(denied.out.find("\"produced\""), npos) << Show(denied);
    EXPECT_LT(took, kQuick) << Show(denied);
  }

  // Nothing reached auth-other; auth-alice holds both clients' 20 records (high watermarks of its 3 partitions).
  for (const auto& [topic, records] :
       std::vector<std::pair<std::string, uint64_t>>{{"auth-other", 0}, {"auth-alice", 40}}) {
    auto described = Cli({"topic", "describe", topic}, admin_token_);
    ASSERT_EQ(described.exit_code, 0) << Show(described);
    uint64_t total = 0;
    int partitions = 0;
    const std::regex hw(R"re("high_watermark":(\d+))re");
    for (auto it = std::sregex_iterator(described.out.begin(), described.out.end(), hw);
         it != std::sregex_iterator(); ++it) {
      total += std::stoull((*it)[1].str());
      ++partitions;
    }
    EXPECT_EQ(partitions, 3) << Show(described);
    EXPECT_EQ(total, records) << topic << ": " << Show(described);
  }
}

}  // namespace
}  // namespace brook::client::testing
