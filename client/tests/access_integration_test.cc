// Access control on a live 3-node TLS cluster (docs/security.md): nodes run with --auth_tokens_file, --auth_mtls,
// --authorization and --superusers=admin; tokens come from `brook token new`. Proves: a missing, wrong or removed
// token is UNAUTHENTICATED; a client certificate names its principal, one of another CA is refused; each ACL
// action on topics, groups and the cluster is denied without a rule and allowed with one (literal and prefix
// rules, added and removed with `brook acl`), denials carry AccessDenied and are counted; produce and fetch quotas
// answer RESOURCE_EXHAUSTED + RetryInfo and recover, and the producer library honours them. The metrics port
// serves HTTPS.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/lib/admin.h"
#include "client/lib/consumer.h"
#include "client/lib/errors.h"
#include "client/lib/producer.h"
#include "client/tests/subprocess.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace brook::client::testing {
namespace {

using namespace std::chrono_literals;

struct Token {
  std::string token;
  std::string line;  // NAME sha256:HEX
};

class AccessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/brook-access-", getpid()));
    for (const char* ca : {"ca", "other"}) {
      const std::string cmd = absl::StrCat("bash ", BROOK_SOURCE_DIR, "/scripts/make-certs.sh ", *dir_, "/", ca,
                                           " 3 localhost,127.0.0.1 carol > /dev/null");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    tokens_ = new std::map<std::string, Token>;
    for (const char* name : {"admin", "alice", "bob", "quentin"}) (*tokens_)[name] = NewToken(name);
    WriteTokens({"admin", "alice", "bob", "quentin"});
    brook::testing::ClusterOptions options;
    options.tls_dir = *dir_ + "/ca";
    options.token = (*tokens_)["admin"].token;
    options.extra_flags = {"--auth_tokens_file=" + *dir_ + "/tokens", "--auth_mtls", "--authorization",
                           "--superusers=admin"};
    // The metrics endpoints serve HTTPS with the nodes' certificates (MetricSum reads them with curl --cacert).
    options.node_flags = [](uint64_t id) {
      return std::vector<std::string>{absl::StrCat("--metrics_tls_cert=", *dir_, "/ca/node-", id, ".pem"),
                                      absl::StrCat("--metrics_tls_key=", *dir_, "/ca/node-", id, ".key")};
    };
    auto cluster = brook::testing::Cluster::Start(options, 60s);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete tokens_;
  }

  static Token NewToken(const std::string& name) {
    ProcessResult r = RunProcess({BROOK_CLI_PATH, "token", "new", name, "--output=json"}, "", 20s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    std::regex re("\"token\":\"([0-9a-f]+)\".*\"tokens_file_line\":\"([^\"]+)\"");
    EXPECT_TRUE(std::regex_search(r.out, m, re)) << r.out;
    return {m[1], m[2]};
  }
  // Replaces the tokens file (a rename, as an operator's tool would) with the lines of `names`.
  static void WriteTokens(const std::vector<std::string>& names) {
    const std::string tmp = *dir_ + "/tokens.tmp";
    {
      std::ofstream out(tmp);
      out << "# tokens of the access test\n";
      for (const auto& n : names) out << (*tokens_)[n].line << "\n";
    }
    std::filesystem::rename(tmp, *dir_ + "/tokens");
  }

  static std::shared_ptr<Connection> Connect(const std::string& token, const std::string& ca = "ca",
                                             const std::string& client_cert = "") {
    ClientOptions o;
    o.bootstrap = cluster_->client_addresses();
    o.request_timeout = 3s;
    o.call_timeout = 8s;
    o.tls_ca_file = absl::StrCat(*dir_, "/", ca, "/ca.pem");
    if (!client_cert.empty()) {
      o.tls_cert_file = absl::StrCat(*dir_, "/", ca, "/client-", client_cert, ".pem");
      o.tls_key_file = absl::StrCat(*dir_, "/", ca, "/client-", client_cert, ".key");
    }
    o.token = token;
    auto c = Connection::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }
  static std::shared_ptr<Connection> As(const std::string& name) { return Connect((*tokens_)[name].token); }

  static absl::StatusOr<v1::WhoAmIResponse> WhoAmI(const std::shared_ptr<Connection>& c) {
    v1::WhoAmIResponse resp;
    absl::Status s =
        c->Call(Route::AnyNode(), c->DefaultDeadline(), true, [&](grpc::ClientContext* ctx, NodeStubs* n) {
          return n->access->WhoAmI(ctx, v1::WhoAmIRequest(), &resp);
        });
    if (!s.ok()) return s;
    return resp;
  }

  // `brook` as the admin (or another principal).
  ProcessResult Brook(std::vector<std::string> args, const std::string& as = "admin") {
    std::vector<std::string> argv = {BROOK_CLI_PATH, "--bootstrap=" + cluster_->bootstrap(), "--timeout-ms=8000",
                                     "--tls-ca=" + *dir_ + "/ca/ca.pem", "--token=" + (*tokens_)[as].token};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, "", 60s);
    last_ = absl::StrCat("brook ", absl::StrJoin(args, " "), " (as ", as, ")\nexit ", r.exit_code, "\nstdout:\n",
                         r.out, "\nstderr:\n", r.err);
    return r;
  }
  void Grant(const std::string& principal, const std::string& action, const std::string& resource) {
    ProcessResult r = Brook({"acl", "add", principal, action, resource});
    ASSERT_EQ(r.exit_code, 0) << last_;
  }

  static absl::Status ProduceOne(const std::shared_ptr<Connection>& c, const std::string& topic,
                                 const std::string& value = "v") {
    auto producer = Producer::Create(c);
    if (!producer.ok()) return producer.status();
    v1::Record r;
    r.set_value(value);
    auto sent = (*producer)->Send(topic, std::move(r)).get();
    return sent.ok() ? absl::OkStatus() : sent.status();
  }

  // A denial names the principal, the action and the resource in its AccessDenied detail.
  static void ExpectDenied(const absl::Status& s, const std::string& principal, v1::AclResourceType type,
                           const std::string& name) {
    ASSERT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    ErrorInfo e = DecodeError(s);
    ASSERT_TRUE(e.access_denied.has_value()) << s;
    EXPECT_EQ(e.access_denied->principal(), principal);
    EXPECT_EQ(e.access_denied->resource_type(), type);
    EXPECT_EQ(e.access_denied->resource_name(), name);
    EXPECT_NE(s.message().find(principal), std::string::npos) << s;
  }

  static v1::TopicConfig Retention(uint64_t ms) {
    v1::TopicConfig c;
    c.set_retention_ms(ms);
    return c;
  }

  // MetricSum once it exceeds `above`, or its last value after 5 s: the nodes sample their counters into the
  // metrics every 500 ms, so a refusal a moment ago may not show yet.
  static double MetricSumAbove(const std::string& series, double above) {
    double v = MetricSum(series);
    for (int i = 0; i < 25 && v <= above; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      v = MetricSum(series);
    }
    return v;
  }
  static double MetricSum(const std::string& series) {
    double total = 0;
    for (uint64_t id = 1; id <= 3; ++id) {
      ProcessResult r = RunProcess({"curl", "-sS", "--cacert", *dir_ + "/ca/ca.pem",
                                    "https://" + cluster_->node(id).metrics_address + "/metrics"},
                                   "", 20s);
      EXPECT_NE(r.out.find("brook_build_info"), std::string::npos) << "node " << id << ": " << r.err;
      std::regex re(series + " ([0-9.e+]+)");
      for (std::sregex_iterator it(r.out.begin(), r.out.end(), re), end; it != end; ++it) {
        total += std::stod((*it)[1]);
      }
    }
    return total;
  }

  static std::string* dir_;
  static std::map<std::string, Token>* tokens_;
  static brook::testing::Cluster* cluster_;
  std::string last_;
};
std::string* AccessTest::dir_ = nullptr;
std::map<std::string, Token>* AccessTest::tokens_ = nullptr;
brook::testing::Cluster* AccessTest::cluster_ = nullptr;

TEST_F(AccessTest, AMissingWrongOrRemovedTokenIsUnauthenticated) {
  auto who = WhoAmI(As("bob"));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->principal(), "bob");
  EXPECT_EQ(who->method(), v1::WhoAmIResponse::TOKEN);
  EXPECT_FALSE(who->superuser());
  EXPECT_TRUE(who->authorization_enabled());
  auto admin = WhoAmI(As("admin"));
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(admin->superuser());

  for (const std::string& token : {std::string(), std::string("not-a-token-of-this-cluster")}) {
    auto topics = Admin(Connect(token)).ListTopics();
    ASSERT_EQ(topics.status().code(), absl::StatusCode::kUnauthenticated) << topics.status();
  }
  ProcessResult r = Brook({"topic", "list"}, "nobody");
  EXPECT_NE(r.exit_code, 0) << last_;
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << last_;

  // Bob's line leaves the file: within a few seconds his token no longer works, with no restart.
  WriteTokens({"admin", "alice", "quentin"});
  absl::Status last;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    last = WhoAmI(As("bob")).status();
    if (last.code() == absl::StatusCode::kUnauthenticated) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnauthenticated) << "a removed token still works: " << last;
  EXPECT_TRUE(WhoAmI(As("alice")).ok()) << "the other tokens still work";
  EXPECT_TRUE(cluster_->CheckAlive(1).ok());
  EXPECT_GT(MetricSumAbove("brook_access_refused_total\\{reason=\"unauthenticated\"\\}", 0), 0);
}

TEST_F(AccessTest, AClientCertificateNamesThePrincipalAndAnotherCasIsRefused) {
  auto who = WhoAmI(Connect("", "ca", "carol"));
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->principal(), "carol");
  EXPECT_EQ(who->method(), v1::WhoAmIResponse::CERTIFICATE);
  // carol holds no rule: authenticated, but denied.
  ExpectDenied(Admin(Connect("", "ca", "carol")).DescribeCluster().status(), "carol", v1::CLUSTER, "");
  // A client certificate of another CA never gets a call through (its TLS handshake fails).
  ClientOptions o;
  o.bootstrap = cluster_->client_addresses();
  o.request_timeout = 1s;
  o.call_timeout = 3s;
  o.tls_ca_file = *dir_ + "/ca/ca.pem";
  o.tls_cert_file = *dir_ + "/other/client-carol.pem";
  o.tls_key_file = *dir_ + "/other/client-carol.key";
  auto foreign = Connection::Create(o);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(WhoAmI(*foreign).ok()) << "a certificate of another CA was accepted";
}

TEST_F(AccessTest, EachActionIsDeniedWithoutARuleAndAllowedWithOne) {
  Admin admin(As("admin"));
  for (const char* t : {"acl-orders", "acl-secret", "other-topic"}) {
    ASSERT_TRUE(admin.CreateTopic(t, 1, 3).ok()) << t;
    ASSERT_TRUE(admin.WaitForLeaders(t, 20s).ok()) << t;
  }
  auto alice = As("alice");
  const double denied_before = MetricSum("brook_access_refused_total\\{reason=\"denied\"\\}");

  // produce
  ExpectDenied(ProduceOne(alice, "acl-orders"), "alice", v1::TOPIC, "acl-orders");
  Grant("alice", "produce", "topic:acl-orders");
  ASSERT_TRUE(ProduceOne(alice, "acl-orders", "first").ok());

  // consume
  auto consumer = Consumer::Create(alice);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign("acl-orders").ok());
  ASSERT_TRUE((*consumer)->Seek(OffsetSpec::kEarliest).ok());
  ExpectDenied((*consumer)->Poll(2s).status(), "alice", v1::TOPIC, "acl-orders");
  Grant("alice", "consume", "topic:acl-orders");
  size_t read = 0;
  for (int i = 0; i < 20 && read == 0; ++i) {
    auto batch = (*consumer)->Poll(500ms);
    ASSERT_TRUE(batch.ok()) << batch.status();
    read += batch->records.size();
  }
  EXPECT_EQ(read, 1u);

  // describe: what alice may not describe is left out of lists and refused by name
  auto topics = Admin(alice).ListTopics();
  ASSERT_TRUE(topics.ok()) << topics.status();
  std::vector<std::string> names;
  for (const auto& t : *topics) names.push_back(t.name());
  EXPECT_EQ(names, std::vector<std::string>{"acl-orders"});
  ExpectDenied(Admin(alice).DescribeTopic("acl-secret").status(), "alice", v1::TOPIC, "acl-secret");

  // admin on topics, by prefix: "acl-" covers acl-orders and acl-secret, not other-topic
  ExpectDenied(Admin(alice).AlterTopic("acl-orders", {"retention_ms"}, Retention(60000)).status(), "alice",
               v1::TOPIC, "acl-orders");
  Grant("alice", "admin", "topic:acl-*");
  EXPECT_TRUE(Admin(alice).AlterTopic("acl-orders", {"retention_ms"}, Retention(60000)).ok());
  EXPECT_TRUE(Admin(alice).DeleteTopic("acl-secret").ok());
  ExpectDenied(Admin(alice).DeleteTopic("other-topic"), "alice", v1::TOPIC, "other-topic");

  // groups
  ExpectDenied((*consumer)->CommitOffsets("acl-group", {{0, 1}}), "alice", v1::GROUP, "acl-group");
  Grant("alice", "consume", "group:acl-group");
  EXPECT_TRUE((*consumer)->CommitOffsets("acl-group", {{0, 1}}).ok());

  // the cluster: balancer and ACLs are the admin's
  ExpectDenied(Admin(alice).SetLeaderBalancer(true).status(), "alice", v1::CLUSTER, "");
  ProcessResult r = Brook({"acl", "add", "alice", "admin", "cluster"}, "alice");
  EXPECT_NE(r.exit_code, 0) << last_;
  EXPECT_NE(r.err.find("PERMISSION_DENIED: principal 'alice' may not admin the cluster"), std::string::npos)
      << last_;
  Grant("alice", "describe", "cluster");
  EXPECT_TRUE(Admin(alice).DescribeCluster().ok());

  // list and remove
  r = Brook({"acl", "list", "--principal=alice"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  for (const char* rule : {"topic:acl-orders", "topic:acl-*", "group:acl-group", "cluster"}) {
    EXPECT_NE(r.out.find(rule), std::string::npos) << rule << "\n" << last_;
  }
  r = Brook({"acl", "remove", "alice", "produce", "topic:acl-orders"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  r = Brook({"acl", "remove", "alice", "produce", "topic:acl-orders"});
  EXPECT_EQ(r.exit_code, 3) << "removing a rule that is not there is NOT_FOUND\n" << last_;
  ExpectDenied(ProduceOne(alice, "acl-orders"), "alice", v1::TOPIC, "acl-orders");
  r = Brook({"acl", "add", "alice", "fly", "topic:x"});
  EXPECT_EQ(r.exit_code, 2) << last_;

  EXPECT_GT(MetricSumAbove("brook_access_refused_total\\{reason=\"denied\"\\}", denied_before), denied_before);
}

TEST_F(AccessTest, TheMetricsEndpointServesHttpsOnly) {
  const std::string address = cluster_->node(2).metrics_address;
  ProcessResult r =
      RunProcess({"curl", "-sS", "--cacert", *dir_ + "/ca/ca.pem", "https://" + address + "/metrics"}, "", 20s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("brook_access_refused_total"), std::string::npos) << r.out.substr(0, 500);
  // Plain HTTP gets no metrics, and neither does a client trusting another CA.
  r = RunProcess({"curl", "-sS", "--max-time", "5", "http://" + address + "/metrics"}, "", 20s);
  EXPECT_EQ(r.out.find("brook_"), std::string::npos) << r.out.substr(0, 500);
  r = RunProcess({"curl", "-sS", "--cacert", *dir_ + "/other/ca.pem", "https://" + address + "/metrics"}, "", 20s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("brook_"), std::string::npos);
}

TEST_F(AccessTest, ProduceAndFetchQuotasAreExceededAndRecover) {
  Admin admin(As("admin"));
  ASSERT_TRUE(admin.CreateTopic("acl-quota", 1, 3).ok());
  auto topic = admin.WaitForLeaders("acl-quota", 20s);
  ASSERT_TRUE(topic.ok());
  Grant("quentin", "produce", "topic:acl-quota");
  ProcessResult r = Brook({"quota", "set", "quentin", "--produce-bytes-per-sec=20000"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  r = Brook({"quota", "list"});
  EXPECT_NE(r.out.find("quentin"), std::string::npos) << last_;

  // One attempt at a time against the leader, as quentin: 15 KB batches against 20 KB/s.
  auto quentin = As("quentin");
  const std::string leader = cluster_->node(topic->partitions(0).leader_id()).client_address;
  auto produce = [&]() {
    v1::ProduceRequest req;
    req.set_topic("acl-quota");
    req.set_partition(0);
    req.add_records()->set_value(std::string(15'000, 'q'));
    v1::ProduceResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return quentin->Stubs(leader)->log->Produce(&ctx, req, &resp);
  };
  grpc::Status throttled;
  for (int i = 0; i < 10 && throttled.ok(); ++i) throttled = produce();
  ASSERT_EQ(throttled.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << throttled.error_message();
  ErrorInfo e = DecodeError(throttled);
  ASSERT_TRUE(e.retry_delay_ms.has_value());
  EXPECT_GT(*e.retry_delay_ms, 0u);
  ASSERT_TRUE(e.resource_info.has_value());
  EXPECT_EQ(e.resource_info->limit(), "produce_bytes_per_second");
  EXPECT_EQ(e.write_outcome, v1::WriteOutcome::NOT_WRITTEN);
  // After the delay it says, the principal may produce again.
  std::this_thread::sleep_for(std::chrono::milliseconds(*e.retry_delay_ms + 50));
  grpc::Status again = produce();
  EXPECT_TRUE(again.ok()) << again.error_message();
  // The producer library waits as told and gets every record through.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(ProduceOne(quentin, "acl-quota", std::string(15'000, 'p')).ok());
  }
  EXPECT_GT(MetricSumAbove("brook_quota_throttled_total\\{kind=\"produce\"\\}", 0), 0);
  // Cleared, the quota no longer holds quentin back.
  r = Brook({"quota", "set", "quentin"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(produce().ok()) << "no quota: no throttle";

  // A fetch quota: the first read of the partition (over 60 KB) puts quentin in debt; the next is refused with
  // RetryInfo and ResourceInfo fetch_bytes_per_second, and after the delay he reads again.
  Grant("quentin", "consume", "topic:acl-quota");
  r = Brook({"quota", "set", "quentin", "--fetch-bytes-per-sec=20000"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  auto fetch = [&]() {
    v1::FetchRequest req;
    req.set_topic("acl-quota");
    req.set_partition(0);
    req.set_offset(0);
    v1::FetchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return quentin->Stubs(leader)->log->Fetch(&ctx, req, &resp);
  };
  grpc::Status fetch_throttled;
  for (int i = 0; i < 10 && fetch_throttled.ok(); ++i) fetch_throttled = fetch();
  ASSERT_EQ(fetch_throttled.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << fetch_throttled.error_message();
  ErrorInfo f = DecodeError(fetch_throttled);
  ASSERT_TRUE(f.retry_delay_ms.has_value() && f.resource_info.has_value());
  EXPECT_EQ(f.resource_info->limit(), "fetch_bytes_per_second");
  std::this_thread::sleep_for(std::chrono::milliseconds(*f.retry_delay_ms + 50));
  grpc::Status fetched = fetch();
  EXPECT_TRUE(fetched.ok()) << fetched.error_message();
  EXPECT_GT(MetricSumAbove("brook_quota_throttled_total\\{kind=\"fetch\"\\}", 0), 0);
  r = Brook({"quota", "set", "quentin"});
  ASSERT_EQ(r.exit_code, 0) << last_;
}

}  // namespace
}  // namespace brook::client::testing
