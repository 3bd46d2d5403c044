// Compressed batches through a live 3-node cluster: the C++ producer writes LZ4 and Zstandard batches (and plain
// ones between them); the leader and a follower serve them whole and as stored, also to a fetch that starts in the
// middle of one; the C++ consumer, the `brook` CLI, Python and Node.js read every record back at its offset, also
// from the middle of a batch; readers that do not accept compressed batches get the same records decompressed.
// `brook produce --compression` and `brook bench produce --compression` write compressed batches too, and so do
// the Python and Node.js producers.
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/lib/compression.h"
#include "client/lib/consumer.h"
#include "client/lib/crc32c.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"

namespace brook::client::testing {
namespace {

constexpr char kTopic[] = "compressed";
// Partition 0: LZ4 [0,10) [10,20), plain [20,25), Zstandard [25,35) [35,45).
// Partition 1: Zstandard [0,12), LZ4 [12,20).
// A fetch from offset 14 starts in the middle of the batch at 10 (partition 0) and of the one at 12 (partition 1).
constexpr uint64_t kMiddle = 14;

struct Written {
  uint32_t partition = 0;
  uint64_t offset = 0;
  std::string key;
  std::string value;
  std::string header;  // the value of the record's one header, "n"
  friend bool operator==(const Written&, const Written&) = default;
};

std::string Describe(const Written& w) {
  return absl::StrCat(w.partition, "/", w.offset, " key=", w.key, " value=", w.value, " n=", w.header);
}

class CompressionTest : public LiveCluster {
 protected:
  // One batch per call: `count` records to `partition` with `codec`, flushed together.
  void ProduceBatch(Producer& producer, uint32_t partition, int count) {
    std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
    std::vector<Written> batch;
    for (int i = 0; i < count; ++i) {
      const int n = next_++;
      v1::Record r;
      r.set_key(absl::StrCat("key-", n));
      r.set_value(
          absl::StrCat("{order: ", n, ", status: shipped, items: [mouse, cable, mug], note: leave at door}"));
      v1::Header* h = r.add_headers();
      h->set_key("n");
      h->set_value(absl::StrCat("header-", n));
      batch.push_back({partition, 0, r.key(), r.value(), h->value()});
      acks.push_back(producer.Send(kTopic, std::move(r), partition));
    }
    producer.Flush();
    for (int i = 0; i < count; ++i) {
      auto m = acks[i].get();
      ASSERT_TRUE(m.ok()) << m.status();
      batch[i].offset = m->offset;
      written_.push_back(batch[i]);
    }
  }

  std::unique_ptr<Producer> MakeProducer(v1::Compression codec) {
    ProducerOptions options;
    options.compression = codec;
    options.batch.linger = std::chrono::seconds(5);  // a batch is exactly what one ProduceBatch flushes
    auto producer = Producer::Create(connection_, options);
    EXPECT_TRUE(producer.ok()) << producer.status();
    return std::move(*producer);
  }

  void WriteLayout() {
    auto lz4 = MakeProducer(v1::COMPRESSION_LZ4), zstd = MakeProducer(v1::COMPRESSION_ZSTD),
         plain = MakeProducer(v1::COMPRESSION_NONE);
    ProduceBatch(*lz4, 0, 10);
    ProduceBatch(*lz4, 0, 10);
    ProduceBatch(*plain, 0, 5);
    ProduceBatch(*zstd, 0, 10);
    ProduceBatch(*zstd, 0, 10);
    ProduceBatch(*zstd, 1, 12);
    ProduceBatch(*lz4, 1, 8);
    EXPECT_EQ(lz4->stats().compressed_batches, 3u);
    EXPECT_EQ(zstd->stats().compressed_batches, 3u);
    EXPECT_EQ(plain->stats().compressed_batches, 0u);
  }

  // The expected records of `partition` (all when nullopt) from `from` on, in (partition, offset) order.
  std::vector<Written> Expected(uint64_t from = 0, std::optional<uint32_t> partition = std::nullopt) const {
    std::vector<Written> out;
    for (const auto& w : written_) {
      if (w.offset >= from && (!partition || w.partition == *partition)) out.push_back(w);
    }
    std::sort(out.begin(), out.end(), [](const Written& a, const Written& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    return out;
  }

  // One raw Fetch to the node at `address`.
  v1::FetchResponse Fetch(const std::string& address, uint32_t partition, uint64_t offset, bool accept_compressed,
                          std::optional<uint64_t> min_acknowledged = std::nullopt) {
    v1::FetchRequest req;
    req.set_topic(kTopic);
    req.set_partition(partition);
    req.set_offset(offset);
    req.set_accept_compressed(accept_compressed);
    req.set_max_wait_ms(1000);
    if (min_acknowledged) req.set_min_acknowledged_offset(*min_acknowledged);
    v1::FetchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = connection_->Stubs(address)->log->Fetch(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << address << ": " << s.error_message();
    return resp;
  }

  // The records a raw answer holds from `from` on, batches expanded with the client's ExpandBatch.
  std::vector<Written> RecordsOf(const v1::FetchResponse& resp, uint32_t partition, uint64_t from) {
    std::vector<v1::StoredRecord> stored(resp.records().begin(), resp.records().end());
    for (const auto& b : resp.compressed_batches()) {
      EXPECT_EQ(b.crc32c(), Crc32c(b.data())) << "batch at " << b.base_offset();
      absl::Status s = ExpandBatch(b, from, &stored);
      EXPECT_TRUE(s.ok()) << s;
    }
    std::vector<Written> out;
    for (const auto& r : stored) {
      if (r.offset() < from) continue;
      out.push_back(
          {partition, r.offset(), r.key(), r.value(), r.headers_size() == 1 ? r.headers(0).value() : "?"});
    }
    std::sort(out.begin(), out.end(), [](const Written& a, const Written& b) { return a.offset < b.offset; });
    return out;
  }

  // Reads everything with the C++ consumer from `from` in every partition.
  std::vector<Written> ConsumeAll(bool accept_compressed, uint64_t from) {
    ConsumerOptions options;
    options.accept_compressed = accept_compressed;
    auto consumer = Consumer::Create(connection_, options);
    EXPECT_TRUE(consumer.ok());
    Consumer& c = **consumer;
    EXPECT_TRUE(c.Assign(kTopic).ok());
    for (uint32_t p : {0u, 1u}) EXPECT_TRUE(c.Seek(p, from).ok());
    std::vector<Written> out;
    const size_t want = Expected(from).size();
    for (int round = 0; round < 50 && out.size() < want; ++round) {
      auto result = c.Poll(std::chrono::milliseconds(500));
      EXPECT_TRUE(result.ok()) << result.status();
      if (!result.ok()) break;
      for (const auto& r : result->records) {
        const auto& s = r.record;
        out.push_back(
            {r.partition, s.offset(), s.key(), s.value(), s.headers_size() == 1 ? s.headers(0).value() : "?"});
      }
    }
    std::sort(out.begin(), out.end(), [](const Written& a, const Written& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    return out;
  }

  std::string WriteExpectations() const {
    const std::string path = absl::StrCat(::testing::TempDir(), "/compressed-", ::getpid(), ".jsonl");
    std::ofstream f(path);
    for (const auto& w : written_) {
      f << "{\"partition\": " << w.partition << ", \"offset\": " << w.offset << ", \"key\": \"" << w.key
        << "\", \"value\": \"" << w.value << "\", \"header\": \"" << w.header << "\"}\n";
    }
    return path;
  }

  std::string LeaderAddress(uint32_t partition) {
    EXPECT_TRUE(connection_->Topic(kTopic, Clock::now() + std::chrono::seconds(10), /*refresh=*/true).ok());
    return connection_->LeaderAddress(kTopic, partition);
  }

  ProcessResult Brook(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {BROOK_CLI_PATH, "--bootstrap=" + cluster_->bootstrap(), "--timeout-ms=20000"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, input, std::chrono::seconds(90));
  }

  int next_ = 0;
  std::vector<Written> written_;
};

void ExpectSame(const std::vector<Written>& got, const std::vector<Written>& want, const std::string& reader) {
  ASSERT_EQ(got.size(), want.size()) << reader << " read a different number of records";
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << reader << ": read " << Describe(got[i]) << ", want " << Describe(want[i]);
  }
}

TEST_F(CompressionTest, EveryReaderGetsEveryRecordOfCompressedBatchesAtItsOffset) {
  const v1::Topic topic = CreateTopic(kTopic, 2);
  ASSERT_EQ(topic.partitions_size(), 2);
  WriteLayout();
  ASSERT_EQ(written_.size(), 65u);
  ASSERT_EQ(Expected(0, 0).back().offset, 44u);
  ASSERT_EQ(Expected(0, 1).back().offset, 19u);

  // The leader serves batches whole and as stored; plain batches stay plain.
  const std::string leader0 = LeaderAddress(0);
  ASSERT_FALSE(leader0.empty());
  auto all = Fetch(leader0, 0, 0, true);
  std::vector<uint64_t> bases;
  for (const auto& b : all.compressed_batches()) bases.push_back(b.base_offset());
  EXPECT_EQ(bases, (std::vector<uint64_t>{0, 10, 25, 35}));
  ASSERT_EQ(all.compressed_batches_size(), 4);
  EXPECT_EQ(all.compressed_batches(0).compression(), v1::COMPRESSION_LZ4);
  EXPECT_EQ(all.compressed_batches(2).compression(), v1::COMPRESSION_ZSTD);
  EXPECT_EQ(all.records_size(), 5) << "the plain batch [20, 25)";
  EXPECT_EQ(all.next_offset(), 45u);
  ExpectSame(RecordsOf(all, 0, 0), Expected(0, 0), "raw fetch from the leader");

  // A fetch from the middle of a batch gets the whole batch; without accept_compressed, records from the offset.
  auto middle = Fetch(leader0, 0, kMiddle, true);
  ASSERT_GT(middle.compressed_batches_size(), 0);
  EXPECT_EQ(middle.compressed_batches(0).base_offset(), 10u);
  ExpectSame(RecordsOf(middle, 0, kMiddle), Expected(kMiddle, 0), "raw fetch from the middle of a batch");
  auto plain = Fetch(leader0, 0, kMiddle, false);
  EXPECT_EQ(plain.compressed_batches_size(), 0);
  ASSERT_GT(plain.records_size(), 0);
  EXPECT_EQ(plain.records(0).offset(), kMiddle);
  ExpectSame(RecordsOf(plain, 0, kMiddle), Expected(kMiddle, 0), "decompressing fetch from the middle");

  // Subscribe streams the same whole batches to a reader that accepts them, also when an answer holds nothing but
  // a batch (from 36: the Zstandard batch [35, 45) alone).
  {
    v1::SubscribeRequest req;
    req.set_topic(kTopic);
    req.set_partition(0);
    req.set_offset(36);
    req.set_accept_compressed(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = connection_->Stubs(leader0)->log->Subscribe(&ctx, req);
    v1::FetchResponse first;
    ASSERT_TRUE(stream->Read(&first)) << "Subscribe sent nothing";
    ASSERT_GT(first.compressed_batches_size(), 0);
    EXPECT_EQ(first.compressed_batches(0).base_offset(), 35u);
    EXPECT_EQ(first.records_size(), 0);
    ExpectSame(RecordsOf(first, 0, 36), Expected(36, 0), "Subscribe from the middle of a batch");
    ctx.TryCancel();
    (void)stream->Finish();
  }

  // A follower serves the same batches (read-your-writes past the last offset), from the middle too.
  for (uint32_t p : {0u, 1u}) {
    const auto& info = topic.partitions(static_cast<int>(p));
    uint64_t follower = 0;
    for (uint64_t id : info.replicas()) {
      if (id != info.leader_id()) follower = id;
    }
    ASSERT_NE(follower, 0u);
    const uint64_t last = Expected(0, p).back().offset;
    auto served = Fetch(cluster_->node(follower).client_address, p, kMiddle, true, last);
    EXPECT_EQ(served.served_by(), follower);
    ASSERT_GT(served.compressed_batches_size(), 0) << "partition " << p;
    EXPECT_LT(served.compressed_batches(0).base_offset(), kMiddle) << "the batch holding offset 14, whole";
    ExpectSame(RecordsOf(served, p, kMiddle), Expected(kMiddle, p), absl::StrCat("follower of partition ", p));
  }

  // The C++ consumer: compressed and decompressed by the node, from the beginning and from the middle.
  ExpectSame(ConsumeAll(true, 0), Expected(0), "C++ consumer");
  ExpectSame(ConsumeAll(true, kMiddle), Expected(kMiddle), "C++ consumer from the middle");
  ExpectSame(ConsumeAll(false, kMiddle), Expected(kMiddle), "C++ consumer without accept_compressed");

  // The CLI.
  auto consumed = Brook({"consume", kTopic, "--output=json"});
  ASSERT_EQ(consumed.exit_code, 0) << consumed.err;
  auto from_middle = Brook({"consume", kTopic, "--offset=14", "--output=json"});
  ASSERT_EQ(from_middle.exit_code, 0) << from_middle.err;
  for (const auto& [out, from] : {std::pair{consumed.out, uint64_t{0}}, std::pair{from_middle.out, kMiddle}}) {
    const std::regex re(
        R"re(\{"partition":(\d+),"offset":(\d+),"timestamp_ms":\d+,"key":"([^"]*)","value":"([^"]*)","headers":\[\{"key":"n","value":"([^"]*)"\}\]\})re");
    std::vector<Written> got;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::smatch m;
      const std::string text(line);
      ASSERT_TRUE(std::regex_match(text, m, re)) << text;
      got.push_back({static_cast<uint32_t>(std::stoul(m[1])), std::stoull(m[2]), m[3], m[4], m[5]});
    }
    std::sort(got.begin(), got.end(), [](const Written& a, const Written& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    ExpectSame(got, Expected(from), absl::StrCat("brook consume from ", from));
  }

  // Python and Node.js decode the batches themselves (--require-compressed), from the beginning and the middle.
  const std::string expect = WriteExpectations();
  const std::string source = BROOK_SOURCE_DIR;
  const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
  ASSERT_EQ(EnsureNodeDeps(source, deps), "");
  for (const std::string from : {"0", "14"}) {
    const std::vector<std::string> flags = {"--bootstrap=" + cluster_->bootstrap(),
                                            std::string("--topic=") + kTopic,
                                            "--expect=" + expect,
                                            "--produce-count=0",
                                            "--from-offset=" + from,
                                            "--exact",
                                            "--require-compressed"};
    std::vector<std::string> py = {"/usr/bin/python3", source + "/client/python/interop_check.py"};
    py.insert(py.end(), flags.begin(), flags.end());
    auto r = RunProcess(py, "", std::chrono::seconds(90),
                        {{"PYTHONPATH", source + "/client/python"},
                         {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"}});
    EXPECT_EQ(r.exit_code, 0) << "python from " << from << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    std::vector<std::string> node = {"node", source + "/client/node/interop_check.js"};
    node.insert(node.end(), flags.begin(), flags.end());
    r = RunProcess(node, "", std::chrono::seconds(90), {{"NODE_PATH", deps + "/node_modules"}});
    EXPECT_EQ(r.exit_code, 0) << "node from " << from << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
  }
}

// The records a producer script printed, one JSON line each (interop_check.py / .js).
std::vector<Written> ParsePrinted(const std::string& out) {
  const std::regex re(
      R"re(\{"partition": ?(\d+), ?"offset": ?(\d+), ?"key": ?"([^"]*)", ?"value": ?"([^"]*)", ?"header": ?"([^"]*)"\})re");
  std::vector<Written> got;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::smatch m;
    const std::string text(line);
    if (!std::regex_match(text, m, re)) {
      ADD_FAILURE() << "not a record line: " << text;
      continue;
    }
    got.push_back({static_cast<uint32_t>(std::stoul(m[1])), std::stoull(m[2]), m[3], m[4], m[5]});
  }
  return got;
}

// Python (LZ4, then Zstandard) and Node.js (LZ4, its own encoder) each write one compressed batch per partition:
// the leader, whose liblz4 and libzstd checked them, serves them as stored with their codecs, and every record is
// at the offset its producer reported.
TEST_F(CompressionTest, PythonAndNodeProducersWriteCompressedBatches) {
  CreateTopic(kTopic, 2);
  const std::string empty = absl::StrCat(::testing::TempDir(), "/nothing-", ::getpid(), ".jsonl");
  std::ofstream(empty).close();
  const std::string source = BROOK_SOURCE_DIR;
  const std::string deps = std::string(BROOK_CLIENT_BINARY_DIR) + "/node_deps";
  ASSERT_EQ(EnsureNodeDeps(source, deps), "");
  struct Run {
    std::string program;
    std::string codec;
    v1::Compression expected;
  };
  const std::vector<Run> runs = {{"/client/python/interop_check.py", "lz4", v1::COMPRESSION_LZ4},
                                 {"/client/python/interop_check.py", "zstd", v1::COMPRESSION_ZSTD},
                                 {"/client/node/interop_check.js", "lz4", v1::COMPRESSION_LZ4}};
  std::map<uint32_t, std::vector<v1::Compression>> codecs;  // per partition, in the order written
  for (const Run& run : runs) {
    const bool python = absl::EndsWith(run.program, ".py");
    std::vector<std::string> argv = {
        python ? "/usr/bin/python3" : "node", source + run.program, "--bootstrap=" + cluster_->bootstrap(),
        std::string("--topic=") + kTopic,     "--expect=" + empty,  "--produce-count=12",
        "--compression=" + run.codec};
    auto r = RunProcess(argv, "", std::chrono::seconds(90),
                        {{"PYTHONPATH", source + "/client/python"},
                         {"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"},
                         {"NODE_PATH", deps + "/node_modules"}});
    ASSERT_EQ(r.exit_code, 0) << run.program << " " << run.codec << "\nstdout:\n"
                              << r.out << "\nstderr:\n"
                              << r.err;
    auto printed = ParsePrinted(r.out);
    ASSERT_EQ(printed.size(), 12u) << r.out;
    std::set<uint32_t> partitions;
    for (const auto& w : printed) partitions.insert(w.partition);
    for (uint32_t p : partitions) codecs[p].push_back(run.expected);
    written_.insert(written_.end(), printed.begin(), printed.end());
  }
  for (uint32_t p : {0u, 1u}) {
    auto all = Fetch(LeaderAddress(p), p, 0, true);
    std::vector<v1::Compression> served;
    for (const auto& b : all.compressed_batches()) served.push_back(b.compression());
    EXPECT_EQ(served, codecs[p]) << "partition " << p;
    EXPECT_EQ(all.records_size(), 0) << "partition " << p;
    ExpectSame(RecordsOf(all, p, 0), Expected(0, p), absl::StrCat("the scripts' batches in partition ", p));
  }
  ExpectSame(ConsumeAll(false, 0), Expected(0), "C++ consumer, decompressed by the node");

  // The two clients' produce benchmarks (docs/performance.md) run and print their medians.
  const std::vector<std::string> bench_flags = {"--bootstrap=" + cluster_->bootstrap(),
                                                std::string("--topic=") + kTopic, "--batches=2", "--per-batch=20",
                                                "--rounds=1"};
  for (const std::string program : {"/client/python/bench_produce.py", "/client/node/bench_produce.js"}) {
    std::vector<std::string> argv = {absl::EndsWith(program, ".py") ? "/usr/bin/python3" : "node",
                                     source + program};
    argv.insert(argv.end(), bench_flags.begin(), bench_flags.end());
    auto r = RunProcess(argv, "", std::chrono::seconds(90),
                        {{"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"},
                         {"NODE_PATH", deps + "/node_modules"}});
    ASSERT_EQ(r.exit_code, 0) << program << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(median lz4 +\d+ records/s)"))) << r.out;
  }
  auto refused = RunProcess({"/usr/bin/python3", source + "/client/python/bench_produce.py",
                             "--bootstrap=" + cluster_->bootstrap(), "--topic=x", "--rounds=0"},
                            "", std::chrono::seconds(30),
                            {{"BROOK_PY_STUBS", std::string(BROOK_CLIENT_BINARY_DIR) + "/py_stubs"}});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_TRUE(absl::StrContains(refused.err, "out of range")) << refused.err;
}

TEST_F(CompressionTest, CliProducesCompressedBatchesAndBenchReportsTheRatio) {
  CreateTopic(kTopic, 1);
  auto produced = Brook({"produce", kTopic, "--compression=zstd", "--header=n=cli", "--output=json"},
                        "first line\nsecond line\nthird line\n");
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  const std::string leader = LeaderAddress(0);
  auto resp = Fetch(leader, 0, 0, true);
  ASSERT_EQ(resp.compressed_batches_size(), 1) << "the three lines went as one zstd batch";
  EXPECT_EQ(resp.compressed_batches(0).compression(), v1::COMPRESSION_ZSTD);
  auto records = RecordsOf(resp, 0, 0);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].value, "second line");
  EXPECT_EQ(records[1].header, "cli");
  EXPECT_EQ(Brook({"produce", kTopic, "--compression=gzip", "--value=x"}).exit_code, 2) << "unknown codec: usage";

  auto bench = Brook({"bench", "produce", "--topic=bench-json", "--records=3000", "--partitions=1",
                      "--compression=zstd", "--record-kind=json", "--output=json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_TRUE(absl::StrContains(bench.out, "\"compression\":\"zstd\"")) << bench.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(bench.out, m, std::regex(R"("compression_ratio":([0-9.]+))"))) << bench.out;
  EXPECT_GT(std::stod(m[1]), 2.0) << "JSON-like records compress: " << bench.out;
  auto table =
      Brook({"bench", "produce", "--topic=bench-random", "--records=500", "--partitions=1", "--compression=lz4"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  ASSERT_TRUE(std::regex_search(table.out, m, std::regex(R"(compression lz4 ratio ([0-9.]+))"))) << table.out;
  EXPECT_NEAR(std::stod(m[1]), 1.0, 0.05) << "random bytes do not compress: " << table.out;
  auto consume = Brook({"bench", "consume", "--topic=bench-json", "--output=json"});
  ASSERT_EQ(consume.exit_code, 0) << consume.err;
  EXPECT_TRUE(absl::StrContains(consume.out, "\"records\":3000")) << consume.out;
}

}  // namespace
}  // namespace brook::client::testing
