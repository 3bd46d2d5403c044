// Python and Node.js clients against a live cluster: each reads what the C++ producer wrote (same offsets, keys,
// values and headers) and writes records that the C++ consumer then finds where the other client said they went.
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/lib/consumer.h"
#include "client/lib/partitioner.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"

namespace brook::client::testing {
namespace {

struct Written {
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string key;
  std::string value;
  std::string header;  // the value of the record's one header, "n"
};

// Parses the JSON lines {"partition": P, "offset": O, "key": "K", "value": "V", "header": "H"} the scripts print
// (plain ASCII).
std::vector<Written> ParseLines(const std::string& text) {
  std::vector<Written> out;
  const std::regex re(
      R"re(\{"partition":\s*(\d+),\s*"offset":\s*(\d+),\s*"key":\s*"([^"]*)",\s*"value":\s*"([^"]*)",\s*"header":\s*"([^"]*)"\})re");
  for (absl::string_view piece : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string line(piece);
    std::smatch m;
    if (std::regex_match(line, m, re)) {
      out.push_back(Written{static_cast<uint32_t>(std::stoul(m[1])), std::stoull(m[2]), m[3], m[4], m[5]});
    }
  }
  return out;
}

class InteropTest : public LiveCluster {
 protected:
  // The C++ producer writes keyed records, each with the header ("n", "cpp-header-<i>"), and returns where they
  // went, as the expectation file's lines.
  std::vector<Written> ProduceFromCpp(const std::string& topic, int count) {
    auto producer = Producer::Create(connection_);
    EXPECT_TRUE(producer.ok());
    std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
    std::vector<Written> out;
    for (int i = 0; i < count; ++i) {
      v1::Record r;
      r.set_key(absl::StrCat("cpp-", i));
      r.set_value(absl::StrCat("from c++ ", i));
      v1::Header* h = r.add_headers();
      h->set_key("n");
      h->set_value(absl::StrCat("cpp-header-", i));
      out.push_back({0, 0, r.key(), r.value(), h->value()});
      acks.push_back((*producer)->Send(topic, std::move(r)));
    }
    (*producer)->Flush();
    for (int i = 0; i < count; ++i) {
      auto m = acks[i].get();
      EXPECT_TRUE(m.ok()) << m.status();
      if (m.ok()) {
        out[i].partition = m->partition;
        out[i].offset = m->offset;
      }
    }
    return out;
  }

  std::string WriteExpectations(const std::vector<Written>& records) {
    const std::string path = absl::StrCat(::testing::TempDir(), "/expect-", ::getpid(), ".jsonl");
    std::ofstream f(path);
    for (const auto& w : records) {
      f << "{\"partition\": " << w.partition << ", \"offset\": " << w.offset << ", \"key\": \"" << w.key
        << "\", \"value\": \"" << w.value << "\", \"header\": \"" << w.header << "\"}\n";
    }
    return path;
  }

  // What the other language wrote must be where it said, with its key and value, read by the C++ consumer.
  void ExpectReadableFromCpp(const std::string& topic, const std::vector<Written>& written) {
    auto consumer = Consumer::Create(connection_);
    ASSERT_TRUE(consumer.ok());
    for (const auto& w : written) {
      ASSERT_TRUE((*consumer)->Assign(topic, {w.partition}).ok());
      ASSERT_TRUE((*consumer)->Seek(w.partition, w.offset).ok());
      auto result = (*consumer)->Poll(std::chrono::seconds(5));
      ASSERT_TRUE(result.ok()) << result.status();
      ASSERT_FALSE(result->records.empty()) << "nothing at " << w.partition << "/" << w.offset;
      const auto& r = result->records[0].record;
      EXPECT_EQ(r.offset(), w.offset);
      EXPECT_EQ(r.key(), w.key);
      EXPECT_EQ(r.value(), w.value);
      ASSERT_EQ(r.headers_size(), 1) << "headers of " << w.partition << "/" << w.offset;
      EXPECT_EQ(r.headers(0).key(), "n");
      EXPECT_EQ(r.headers(0).value(), w.header);
      EXPECT_EQ(w.partition, PartitionForKey(w.key, 3)) << "the other client's partitioner disagrees with C++";
    }
  }
};

TEST_F(InteropTest, PythonClientSeesCppRecordsAndCppSeesPythonRecords) {
  CreateTopic("interop-py", 3);
  const auto cpp = ProduceFromCpp("interop-py", 30);
  const std::string expect = WriteExpectations(cpp);
  const std::string source = BROOK_SOURCE_DIR;
  auto r = RunProcess(
      {"/usr/bin/python3", source + "/client/python/interop_check.py", "--bootstrap=" + cluster_->bootstrap(),
       "--topic=interop-py", "--expect=" + expect, "--produce-count=6"},
      "", std::chrono::seconds(90),
      {{"PYTHONPATH", source + "/client/python"},
       {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"}});
  ASSERT_EQ(r.exit_code, 0) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  const auto written = ParseLines(r.out);
  ASSERT_EQ(written.size(), 6u) << r.out;
  ExpectReadableFromCpp("interop-py", written);
}

TEST_F(InteropTest, NodeClientSeesCppRecordsAndCppSeesNodeRecords) {
  // Install @grpc/grpc-js and @grpc/proto-loader from the npm registry into the build tree once.
  const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
  const std::string source = BROOK_SOURCE_DIR;
  const std::string npm_error = EnsureNodeDeps(source, deps);
  ASSERT_EQ(npm_error, "");
  CreateTopic("interop-node", 3);
  const auto cpp = ProduceFromCpp("interop-node", 30);
  const std::string expect = WriteExpectations(cpp);
  auto r = RunProcess({"node", source + "/client/node/interop_check.js", "--bootstrap=" + cluster_->bootstrap(),
                       "--topic=interop-node", "--expect=" + expect, "--produce-count=6"},
                      "", std::chrono::seconds(90), {{"NODE_PATH", deps + "/node_modules"}});
  ASSERT_EQ(r.exit_code, 0) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  const auto written = ParseLines(r.out);
  ASSERT_EQ(written.size(), 6u) << r.out;
  ExpectReadableFromCpp("interop-node", written);
}

// Each script writes a record and a tombstone for its key to a compacted topic and reads both back; the C++
// consumer reads the same two records, the second flagged as a tombstone with no value.
TEST_F(InteropTest, PythonAndNodeClientsWriteAndReadTombstones) {
  v1::TopicConfig config;
  config.set_cleanup_policy(v1::CLEANUP_COMPACT);
  ASSERT_TRUE(admin_->CreateTopic("interop-compacted", 1, 3, config).ok());
  ASSERT_TRUE(admin_->WaitForLeaders("interop-compacted", std::chrono::seconds(20)).ok());
  const std::string source = BROOK_SOURCE_DIR;
  const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
  ASSERT_EQ(EnsureNodeDeps(source, deps), "");
  const std::vector<std::pair<std::string, std::vector<std::string>>> scripts = {
      {"py-key",
       {"/usr/bin/python3", source + "/client/python/tombstone_check.py", "--bootstrap=" + cluster_->bootstrap(),
        "--topic=interop-compacted", "--key=py-key"}},
      {"node-key",
       {"node", source + "/client/node/tombstone_check.js", "--bootstrap=" + cluster_->bootstrap(),
        "--topic=interop-compacted", "--key=node-key"}},
  };
  for (const auto& [key, argv] : scripts) {
    auto r = RunProcess(argv, "", std::chrono::seconds(90),
                        {{"PYTHONPATH", source + "/client/python"},
                         {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"},
                         {"NODE_PATH", deps + "/node_modules"}});
    ASSERT_EQ(r.exit_code, 0) << key << " stdout:\n" << r.out << "\nstderr:\n" << r.err;
    const std::regex line(R"re(\{"offset":\s*(\d+),\s*"value":\s*"([^"]*)",\s*"tombstone":\s*(true|false)\})re");
    std::vector<std::string> read;
    for (absl::string_view piece : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      std::smatch m;
      const std::string text(piece);
      if (std::regex_match(text, m, line)) read.push_back(std::string(m[2]) + (m[3] == "true" ? " (x)" : ""));
    }
    EXPECT_EQ(read, (std::vector<std::string>{"alive", " (x)"})) << key << " read back:\n" << r.out;
  }
  // The C++ consumer, by now perhaps after a compaction pass removed the superseded values: the tombstones stay.
  auto consumer = Consumer::Create(connection_);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign("interop-compacted").ok());
  ASSERT_TRUE((*consumer)->Seek(OffsetSpec::kEarliest).ok());
  std::vector<std::string> tombstones;
  for (int i = 0; i < 20 && (*consumer)->Position(0) < 4u; ++i) {
    auto result = (*consumer)->Poll(std::chrono::seconds(1));
    ASSERT_TRUE(result.ok()) << result.status();
    for (const auto& c : result->records) {
      if (c.record.tombstone()) tombstones.push_back(c.record.key() + "=" + c.record.value());
    }
  }
  EXPECT_EQ(tombstones, (std::vector<std::string>{"py-key=", "node-key="}));
}

}  // namespace
}  // namespace brook::client::testing
