// Records never vanish silently, in any client: a live 3-node cluster behind one drop_answers_proxy per node (each
// brookd advertises its proxy, so clients go through the proxies), with the proxies losing the answers of Produce
// calls after the leader has written the batch (DEADLINE_EXCEEDED and UNAVAILABLE without details, in turn). The
// C++ library producer, the Python client and the Node.js client each produce distinct records through it; then
// every partition is read back directly from a node. Every send must report success, and every record must be in
// the log exactly once, at the offset its send reported: nothing lost, nothing doubled.
#include <iostream>
#include <map>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "brook/v1/log.grpc.pb.h"
#include "client/lib/admin.h"
#include "client/lib/producer.h"
#include "client/tests/drop_answers_proxy.h"
#include "client/tests/subprocess.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace brook::client::testing {
namespace {

constexpr int kRecords = 24;
constexpr uint32_t kPartitions = 3;
// Per proxy: lose one in two successful Produce answers (so each lost batch's resend is answered, as a duplicate)
// until this many are lost. About the first five records of each partition lose their first answer.
constexpr int kDropsPerProxy = 5;
constexpr char kTopic[] = "never-lost";

// What one send reported.
struct Sent {
  std::string key;
  std::string value;
  bool ok = false;
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string error;
};

// The lines the scripts print: {"key": K, "value": V, "partition": P, "offset": O} or {..., "error": E}.
std::vector<Sent> ParseSends(const std::string& text) {
  std::vector<Sent> out;
  const std::regex ok(
      R"re(\{"key":\s*"([^"]*)",\s*"value":\s*"([^"]*)",\s*"partition":\s*(\d+),\s*"offset":\s*(\d+)\})re");
  const std::regex failed(R"re(\{"key":\s*"([^"]*)",\s*"value":\s*"([^"]*)",\s*"error":\s*"(.*)"\})re");
  for (absl::string_view piece : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string line(piece);
    std::smatch m;
    Sent s;
    if (std::regex_match(line, m, ok)) {
      s = Sent{m[1], m[2], true, static_cast<uint32_t>(std::stoul(m[3])), std::stoull(m[4]), ""};
    } else if (std::regex_match(line, m, failed)) {
      s = Sent{m[1], m[2], false, 0, 0, m[3]};
    } else {
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

class LostAnswersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> proxy_addresses;
    for (int i = 0; i < 3; ++i) proxy_addresses.push_back(absl::StrCat("127.0.0.1:", brook::testing::FreePort()));
    brook::testing::ClusterOptions options;
    options.nodes = 3;
    options.node_flags = [proxy_addresses](uint64_t id) {
      return std::vector<std::string>{"--advertise_client_addr=" + proxy_addresses.at(id - 1)};
    };
    auto cluster = brook::testing::Cluster::Start(options, std::chrono::seconds(30));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    for (const auto& n : cluster_->nodes()) {
      DropAnswersOptions p;
      p.listen = proxy_addresses.at(n.id - 1);
      p.target = n.client_address;
      p.drop_produce = kDropsPerProxy;
      p.drop_every = 2;
      p.log_path = absl::StrCat(::testing::TempDir(), "/drop-answers-", ::getpid(), "-", n.id, ".log");
      auto proxy = DropAnswersProxy::Start(p, std::chrono::seconds(20));
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      proxies_.push_back(std::move(*proxy));
    }
    bootstrap_ = absl::StrJoin(proxy_addresses, ",");
    ClientOptions client_options;
    client_options.bootstrap = proxy_addresses;
    client_options.request_timeout = std::chrono::milliseconds(3000);
    client_options.call_timeout = std::chrono::milliseconds(20000);
    auto connection = Connection::Create(client_options);
    ASSERT_TRUE(connection.ok()) << connection.status();
    connection_ = *connection;
    Admin admin(connection_);
    ASSERT_TRUE(admin.CreateTopic(kTopic, kPartitions, 3).ok());
    auto ready = admin.WaitForLeaders(kTopic, std::chrono::seconds(20));
    ASSERT_TRUE(ready.ok()) << ready.status();
  }

  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& p : proxies_) std::cerr << "---- " << p->options().listen << " ----\n" << p->Log() << "\n";
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- node " << n.id << " log tail ----\n" << cluster_->LogTail(n.id, 15) << "\n";
      }
    }
  }

  int Dropped() const {
    int n = 0;
    for (const auto& p : proxies_) n += p->Dropped();
    return n;
  }

  // Every partition of kTopic as node 1 holds it, read straight from node 1's own address (no proxy), after it has
  // committed at least up to the highest offset a send reported there.
  std::map<uint32_t, std::vector<v1::StoredRecord>> ReadBackFromNode1(const std::vector<Sent>& sends) {
    auto stub = v1::Log::NewStub(
        grpc::CreateChannel(cluster_->node(1).client_address, grpc::InsecureChannelCredentials()));
    std::map<uint32_t, std::vector<v1::StoredRecord>> out;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      std::optional<uint64_t> acknowledged;
      for (const Sent& s : sends) {
        if (s.ok && s.partition == p) acknowledged = std::max(acknowledged.value_or(0), s.offset);
      }
      uint64_t offset = 0;
      const auto deadline = Clock::now() + std::chrono::seconds(20);
      for (int fetch = 0; fetch < 1000 && Clock::now() < deadline; ++fetch) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
        v1::FetchRequest request;
        request.set_topic(kTopic);
        request.set_partition(p);
        request.set_offset(offset);
        request.set_max_wait_ms(1000);
        if (acknowledged) request.set_min_acknowledged_offset(*acknowledged);
        v1::FetchResponse response;
        const grpc::Status status = stub->Fetch(&context, request, &response);
        if (!status.ok()) {  // not caught up yet (UNAVAILABLE): ask again
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        for (const auto& r : response.records()) out[p].push_back(r);
        offset = response.next_offset();
        if (offset >= response.high_watermark()) break;
      }
      EXPECT_TRUE(!acknowledged || offset > *acknowledged)
          << "node 1 did not return partition " << p << " up to offset " << *acknowledged << " in time";
    }
    return out;
  }

  // The promise: every send succeeded, and each record is in the log once, where its send said.
  void ExpectEveryRecordOnceWhereReported(const std::vector<Sent>& sends) {
    ASSERT_EQ(sends.size(), static_cast<size_t>(kRecords)) << "not every send reported";
    const int dropped = Dropped();
    EXPECT_GT(dropped, 0) << "the proxies lost no answer: the test proved nothing";
    std::cout << "the proxies lost " << dropped << " Produce answers\n";
    std::map<std::string, const Sent*> by_key;
    for (const Sent& s : sends) {
      by_key[s.key] = &s;
      EXPECT_TRUE(s.ok) << s.key << ": the send failed: " << s.error;
    }
    std::map<std::string, std::vector<std::pair<uint32_t, uint64_t>>> found;  // key -> where it is
    std::map<std::pair<uint32_t, uint64_t>, std::string> at;                  // (partition, offset) -> key
    for (const auto& [p, records] : ReadBackFromNode1(sends)) {
      for (const auto& r : records) {
        found[r.key()].push_back({p, r.offset()});
        at[{p, r.offset()}] = r.key();
        auto it = by_key.find(r.key());
        if (it == by_key.end()) {
          ADD_FAILURE() << "partition " << p << " offset " << r.offset() << " holds '" << r.key()
                        << "', which no send wrote";
          continue;
        }
        EXPECT_EQ(r.value(), it->second->value) << r.key();
      }
    }
    for (const Sent& s : sends) {
      const auto& places = found[s.key];
      if (places.empty()) {
        ADD_FAILURE() << s.key << " is LOST: not in the log"
                      << (s.ok ? absl::StrCat(", although its send reported partition ", s.partition, " offset ",
                                              s.offset, ", which holds '", at[{s.partition, s.offset}], "'")
                               : "");
        continue;
      }
      EXPECT_EQ(places.size(), 1u) << s.key << " is in the log " << places.size() << " times";
      if (s.ok) {
        EXPECT_EQ(places[0], std::make_pair(s.partition, s.offset))
            << s.key << ": its send reported partition " << s.partition << " offset " << s.offset << ", it is at "
            << places[0].first << "/" << places[0].second;
      }
    }
  }

  std::unique_ptr<brook::testing::Cluster> cluster_;
  std::vector<std::unique_ptr<DropAnswersProxy>> proxies_;
  std::string bootstrap_;  // the proxies
  std::shared_ptr<Connection> connection_;
};

TEST_F(LostAnswersTest, CppProducerLosesNothingAndDoublesNothing) {
  ProducerOptions options;
  options.batch.max_batch_records = 1;  // one Produce per record, several in flight per partition
  auto producer = Producer::Create(connection_, options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::vector<Sent> sends;
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < kRecords; ++i) {
    v1::Record r;
    r.set_key(absl::StrCat("cpp-", i));
    r.set_value(absl::StrCat("cpp record ", i));
    sends.push_back(Sent{r.key(), r.value(), false, 0, 0, ""});
    acks.push_back((*producer)->Send(kTopic, std::move(r)));
  }
  (*producer)->Flush();
  for (int i = 0; i < kRecords; ++i) {
    auto m = acks[i].get();
    sends[i].ok = m.ok();
    if (m.ok()) {
      sends[i].partition = m->partition;
      sends[i].offset = m->offset;
    } else {
      sends[i].error = m.status().ToString();
    }
  }
  ExpectEveryRecordOnceWhereReported(sends);
}

TEST_F(LostAnswersTest, PythonProducerLosesNothingAndDoublesNothing) {
  const std::string source = BROOK_SOURCE_DIR;
  auto r = RunProcess({"/usr/bin/python3", source + "/client/python/produce_check.py", "--bootstrap=" + bootstrap_,
                       std::string("--topic=") + kTopic, absl::StrCat("--count=", kRecords), "--prefix=py"},
                      "", std::chrono::seconds(60),
                      {{"PYTHONPATH", source + "/client/python"},
                       {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"}});
  SCOPED_TRACE("produce_check.py exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" +
               r.err);
  ExpectEveryRecordOnceWhereReported(ParseSends(r.out));
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(LostAnswersTest, NodeProducerLosesNothingAndDoublesNothing) {
  const std::string source = BROOK_SOURCE_DIR;
  const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
  const std::string npm_error = EnsureNodeDeps(source, deps);
  ASSERT_EQ(npm_error, "");
  auto r = RunProcess({"node", source + "/client/node/produce_check.js", "--bootstrap=" + bootstrap_,
                       std::string("--topic=") + kTopic, absl::StrCat("--count=", kRecords), "--prefix=node"},
                      "", std::chrono::seconds(60), {{"NODE_PATH", deps + "/node_modules"}});
  SCOPED_TRACE("produce_check.js exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" +
               r.err);
  ExpectEveryRecordOnceWhereReported(ParseSends(r.out));
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace brook::client::testing
