// The `brook` binary against a live cluster: output, JSON, and exit codes, including bad input.
#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/lib/partitioner.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"

namespace brook::client::testing {
namespace {

class BrookCliTest : public LiveCluster {
 protected:
  ProcessResult Brook(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {BROOK_CLI_PATH, "--bootstrap=" + cluster_->bootstrap(), "--timeout-ms=20000"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, input, std::chrono::seconds(60));
    last_ = absl::StrCat("brook ", absl::StrJoin(args, " "), "\nexit ", r.exit_code, "\nstdout:\n", r.out,
                         "\nstderr:\n", r.err);
    return r;
  }
  std::string last_;  // for failure messages
};

// Retention changed while the topic serves: the log start moves on every replica's next check; the settings not
// given keep their values; what cannot change is refused with the field named.
TEST_F(BrookCliTest, TopicAlterChangesRetentionWhileTheTopicServes) {
  ASSERT_EQ(Brook({"topic", "create", "aging", "--partitions=1", "--retention-ms=86400000"}).exit_code, 0)
      << last_;
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += std::string(1000, 'a' + i % 26) + "\n";
  ASSERT_EQ(Brook({"produce", "aging", "--partition=0"}, lines).exit_code, 0) << last_;

  auto altered = Brook({"topic", "alter", "aging", "--retention-bytes=8192"});
  ASSERT_EQ(altered.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(altered.out, "retention-ms 86400000, retention-bytes 8192")) << last_;
  bool trimmed = false;
  for (int attempt = 0; attempt < 150 && !trimmed; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto d = Brook({"topic", "describe", "aging", "--output=json"});
    ASSERT_EQ(d.exit_code, 0) << last_;
    trimmed = !absl::StrContains(d.out, "\"log_start_offset\":0");
  }
  EXPECT_TRUE(trimmed) << "the log start never moved after the retention change: " << last_;

  auto none = Brook({"topic", "alter", "aging"});
  EXPECT_EQ(none.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(none.err, "--retention-bytes")) << last_;
  ASSERT_EQ(Brook({"topic", "create", "table", "--partitions=1", "--cleanup-policy=compact"}).exit_code, 0)
      << last_;
  auto forbidden = Brook({"topic", "alter", "table", "--retention-ms=1000"});
  EXPECT_NE(forbidden.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(forbidden.err, "config.retention_ms")) << last_;
  auto missing = Brook({"topic", "alter", "nope", "--retention-ms=1"});
  EXPECT_EQ(missing.exit_code, 3) << last_;
  EXPECT_TRUE(absl::StrContains(missing.err, "NOT_FOUND")) << last_;
}

// A one-replica partition moves to another node with its records: the dry run prints the plan and changes
// nothing; `cluster operations --wait` returns once the move is done; refusals say why; the topic then grows.
TEST_F(BrookCliTest, TopicMoveReplicasMovesAPartitionAndTheTopicGrows) {
  ASSERT_EQ(Brook({"topic", "create", "mv", "--partitions=1", "--replication-factor=1"}).exit_code, 0) << last_;
  std::string lines;
  for (int i = 0; i < 50; ++i) lines += absl::StrCat("record-", i, "\n");
  ASSERT_EQ(Brook({"produce", "mv", "--partition=0"}, lines).exit_code, 0) << last_;
  auto d = Brook({"topic", "describe", "mv", "--output=json"});
  ASSERT_EQ(d.exit_code, 0) << last_;
  const size_t at = d.out.find("\"replicas\":[");
  ASSERT_NE(at, std::string::npos) << last_;
  const std::string from = d.out.substr(at + 12, 1);
  const std::string to = from == "1" ? "2" : "1";

  auto dry = Brook({"topic", "move-replicas", "mv", "0", "--to", to, "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(dry.out, absl::StrCat("mv/0: replicas ", from, " -> ", to))) << last_;
  EXPECT_TRUE(absl::StrContains(dry.out, absl::StrCat("1. add n", to, " as a learner"))) << last_;
  EXPECT_TRUE(absl::StrContains(dry.out, absl::StrCat("hand leadership to n", to))) << last_;
  EXPECT_TRUE(absl::StrContains(dry.out, "dry run: nothing changed")) << last_;
  auto none = Brook({"cluster", "operations"});
  EXPECT_TRUE(absl::StrContains(none.out, "no replica moves running")) << last_;

  auto wrong = Brook({"topic", "move-replicas", "mv", "0", "--to", "1,2"});
  EXPECT_EQ(wrong.exit_code, 1) << last_;
  EXPECT_TRUE(absl::StrContains(wrong.err, "has replication factor 1")) << last_;
  auto stranger = Brook({"topic", "move-replicas", "mv", "0", "--to", "9"});
  EXPECT_TRUE(absl::StrContains(stranger.err, "node 9 is not an active member")) << last_;
  auto usage = Brook({"topic", "move-replicas", "mv", "0"});
  EXPECT_EQ(usage.exit_code, 2) << last_;
  auto idle = Brook({"topic", "cancel-move", "mv", "0"});
  EXPECT_TRUE(absl::StrContains(idle.err, "no move of mv/0 runs")) << last_;

  auto moved = Brook({"topic", "move-replicas", "mv", "0", "--to", to});
  ASSERT_EQ(moved.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(moved.out, "move started")) << last_;
  auto waited = Brook({"cluster", "operations", "--wait", "--wait-timeout-ms=60000"});
  ASSERT_EQ(waited.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(waited.out, "no replica moves running")) << last_;
  auto after = Brook({"topic", "describe", "mv", "--output=json"});
  EXPECT_TRUE(absl::StrContains(after.out, absl::StrCat("\"replicas\":[", to, "]"))) << last_;
  auto read = Brook({"consume", "mv", "--partition=0"});
  ASSERT_EQ(read.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(read.out, "record-0")) << last_;
  EXPECT_TRUE(absl::StrContains(read.out, "record-49")) << last_;

  // Three nodes are the least a cluster keeps: decommissioning one is refused, the dry run too, with the reason.
  auto decommission = Brook({"cluster", "decommission", "2", "--dry-run"});
  EXPECT_EQ(decommission.exit_code, 1) << last_;
  EXPECT_TRUE(absl::StrContains(decommission.err, "would leave 2 active nodes")) << last_;
  auto status = Brook({"cluster", "status"});
  EXPECT_TRUE(absl::StrContains(status.out, "active")) << last_;
  auto replace = Brook({"cluster", "replace", "2"});
  EXPECT_EQ(replace.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(replace.err, "give --with")) << last_;
  auto replaced = Brook({"cluster", "replace", "2", "--with=1"});
  EXPECT_TRUE(absl::StrContains(replaced.err, "would leave 2 active nodes")) << last_;
  // `cluster remove` is for a dead node: a live one is refused with the command that drains it.
  auto removed = Brook({"cluster", "remove", "2", "--dry-run"});
  EXPECT_EQ(removed.exit_code, 1) << last_;
  EXPECT_TRUE(absl::StrContains(removed.err, "'cluster remove' is for a dead node")) << last_;
  EXPECT_TRUE(absl::StrContains(removed.err, "brook cluster decommission 2")) << last_;

  auto grown = Brook({"topic", "add-partitions", "mv", "--count=3"});
  ASSERT_EQ(grown.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(grown.out, "topic 'mv' now has 3 partitions")) << last_;
  auto shrink = Brook({"topic", "add-partitions", "mv", "--count=2"});
  EXPECT_TRUE(absl::StrContains(shrink.err, "has 3 partitions")) << last_;
}

TEST_F(BrookCliTest, ClusterBalancerPausesAndResumesOnEveryNode) {
  auto paused = Brook({"cluster", "balancer", "pause"});
  ASSERT_EQ(paused.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(paused.out, "leader balancer paused on every node")) << last_;
  auto status = Brook({"cluster", "status", "--output=json"});
  ASSERT_EQ(status.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(status.out, "\"leader_balancer_paused\":true")) << last_;
  EXPECT_TRUE(absl::StrContains(status.out, "\"leaders_off_preferred\":")) << last_;
  auto table = Brook({"cluster", "status"});
  EXPECT_TRUE(absl::StrContains(table.out, "leader balancer PAUSED")) << last_;
  auto resumed = Brook({"cluster", "balancer", "resume", "--output=json"});
  ASSERT_EQ(resumed.exit_code, 0) << last_;
  EXPECT_EQ(resumed.out, "{\"leader_balancer_paused\":false}\n") << last_;
  auto bad = Brook({"cluster", "balancer", "stop"});
  EXPECT_EQ(bad.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(bad.err, "use pause or resume")) << last_;
}

TEST_F(BrookCliTest, TopicLifecycle) {
  auto created = Brook({"topic", "create", "clicks", "--partitions=4"});
  ASSERT_EQ(created.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(created.out, "created topic 'clicks' with 4 partitions")) << last_;

  auto listed = Brook({"topic", "list"});
  ASSERT_EQ(listed.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(listed.out, "clicks")) << last_;
  EXPECT_TRUE(absl::StartsWith(listed.out, "NAME")) << last_;

  auto json = Brook({"topic", "describe", "clicks", "--output=json"});
  ASSERT_EQ(json.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(json.out, "\"name\":\"clicks\"")) << last_;
  EXPECT_TRUE(absl::StrContains(json.out, "\"partition_count\":4")) << last_;

  // Every partition shows all three replicas caught up, whichever node leads it (the CLI asks each leader).
  int fully_caught_up = 0;
  for (int attempt = 0; attempt < 100 && fully_caught_up != 4; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto described = Brook({"topic", "describe", "clicks", "--output=json"});
    ASSERT_EQ(described.exit_code, 0) << last_;
    std::vector<std::string> parts = absl::StrSplit(described.out, "\"caught_up_replicas\":[");
    fully_caught_up = 0;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string ids = parts[i].substr(0, parts[i].find(']'));
      if (std::count(ids.begin(), ids.end(), ',') == 2) ++fully_caught_up;
    }
  }
  EXPECT_EQ(fully_caught_up, 4) << last_;
  auto table = Brook({"topic", "describe", "clicks"});
  ASSERT_EQ(table.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(table.out, "CAUGHT-UP")) << last_;

  auto again = Brook({"topic", "create", "clicks"});
  EXPECT_EQ(again.exit_code, 1) << last_;
  EXPECT_TRUE(absl::StrContains(again.err, "ALREADY_EXISTS")) << last_;

  ASSERT_EQ(Brook({"topic", "delete", "clicks"}).exit_code, 0) << last_;
  EXPECT_EQ(Brook({"topic", "describe", "clicks"}).exit_code, 3) << last_;
}

TEST_F(BrookCliTest, ProduceAndConsumeWithKeys) {
  ASSERT_EQ(Brook({"topic", "create", "lines", "--partitions=2"}).exit_code, 0) << last_;
  auto produced = Brook({"produce", "lines", "--key-separator=:"}, "alice:one\nbob:two\nalice:three\n");
  ASSERT_EQ(produced.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(produced.out, "produced 3 records")) << last_;
  auto single = Brook({"produce", "lines", "--value=solo", "--key=carol", "--output=json"});
  ASSERT_EQ(single.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(single.out, "\"records\":1")) << last_;

  auto consumed = Brook({"consume", "lines", "--from-beginning", "--output=json"});
  ASSERT_EQ(consumed.exit_code, 0) << last_;
  std::vector<std::string> lines = absl::StrSplit(consumed.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << last_;
  // alice's records share a partition, in order.
  const uint32_t alice = PartitionForKey("alice", 2);
  const std::string p = absl::StrCat("\"partition\":", alice, ",");
  std::vector<std::string> alice_lines;
  for (const auto& l : lines) {
    if (absl::StrContains(l, "\"key\":\"alice\"")) alice_lines.push_back(l);
  }
  ASSERT_EQ(alice_lines.size(), 2u) << last_;
  EXPECT_TRUE(absl::StrContains(alice_lines[0], p) && absl::StrContains(alice_lines[0], "\"value\":\"one\""));
  EXPECT_TRUE(absl::StrContains(alice_lines[1], "\"value\":\"three\"")) << last_;

  auto table = Brook({"consume", "lines", "--partition", absl::StrCat(alice), "--max-records=1"});
  ASSERT_EQ(table.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(table.out, "PARTITION\tOFFSET\tKEY\tVALUE\tHEADERS\n")) << last_;
  EXPECT_TRUE(absl::StrContains(table.out, absl::StrCat(alice, "\t0\talice\tone\t\n"))) << last_;

  auto from_offset = Brook({"consume", "lines", "--partition", absl::StrCat(alice), "--offset=1"});
  ASSERT_EQ(from_offset.exit_code, 0) << last_;
  EXPECT_FALSE(absl::StrContains(from_offset.out, "\tone")) << last_;
  EXPECT_TRUE(absl::StrContains(from_offset.out, "\tthree")) << last_;

  auto ts = Brook({"consume", "lines", "--timestamp=99999999999999"});
  ASSERT_EQ(ts.exit_code, 0) << last_;
  EXPECT_EQ(ts.out, "PARTITION\tOFFSET\tKEY\tVALUE\tHEADERS\n") << "nothing after a time in the future: " << last_;
}

TEST_F(BrookCliTest, HeadersGoFromProduceToConsume) {
  ASSERT_EQ(Brook({"topic", "create", "tagged", "--partitions=1"}).exit_code, 0) << last_;
  auto one = Brook({"produce", "tagged", "--value=payload", "--key=k", "--header", "trace=abc",
                    "--header=empty=", "--header=eq=a=b", "--header=dup=1", "--header", "dup=2"});
  ASSERT_EQ(one.exit_code, 0) << last_;
  auto lines = Brook({"produce", "tagged", "--header=src=stdin"}, "first\nsecond\n");
  ASSERT_EQ(lines.exit_code, 0) << last_;
  ASSERT_EQ(Brook({"produce", "tagged", "--value=plain"}).exit_code, 0) << last_;

  auto json = Brook({"consume", "tagged", "--output=json"});
  ASSERT_EQ(json.exit_code, 0) << last_;
  std::vector<std::string> records = absl::StrSplit(json.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(records.size(), 4u) << last_;
  EXPECT_TRUE(
      absl::StrContains(records[0],
                        "\"headers\":[{\"key\":\"trace\",\"value\":\"abc\"},{\"key\":\"empty\",\"value\":\"\"},"
                        "{\"key\":\"eq\",\"value\":\"a=b\"},{\"key\":\"dup\",\"value\":\"1\"},"
                        "{\"key\":\"dup\",\"value\":\"2\"}]}"))
      << "every header, in order, duplicates kept: " << last_;
  EXPECT_TRUE(
      absl::StrContains(records[1], "\"value\":\"first\",\"headers\":[{\"key\":\"src\",\"value\":\"stdin\"}]"))
      << "each stdin line gets the headers: " << last_;
  EXPECT_TRUE(
      absl::StrContains(records[2], "\"value\":\"second\",\"headers\":[{\"key\":\"src\",\"value\":\"stdin\"}]"))
      << last_;
  EXPECT_TRUE(absl::StrContains(records[3], "\"value\":\"plain\",\"headers\":[]")) << last_;

  auto text = Brook({"consume", "tagged"});
  ASSERT_EQ(text.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(text.out, "0\t0\tk\tpayload\ttrace=abc,empty=,eq=a=b,dup=1,dup=2\n")) << last_;
  EXPECT_TRUE(absl::StrContains(text.out, "0\t1\t\tfirst\tsrc=stdin\n")) << last_;
  EXPECT_TRUE(absl::StrContains(text.out, "0\t3\t\tplain\t\n")) << last_;

  auto bad = Brook({"produce", "tagged", "--value=x", "--header=nokey"});
  EXPECT_EQ(bad.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(bad.err, "--header wants KEY=VALUE")) << last_;
  auto after = Brook({"consume", "tagged", "--output=json"});
  ASSERT_EQ(after.exit_code, 0) << last_;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(after.out, '\n', absl::SkipEmpty())).size(), 4u)
      << "a usage error writes nothing: " << last_;
}

TEST_F(BrookCliTest, BadInputGetsTheDocumentedExitCodes) {
  ASSERT_EQ(Brook({"topic", "create", "known", "--partitions=1"}).exit_code, 0) << last_;
  auto unknown_topic = Brook({"produce", "nope", "--value=x"});
  EXPECT_EQ(unknown_topic.exit_code, 3) << last_;
  EXPECT_TRUE(absl::StrContains(unknown_topic.err, "NOT_FOUND")) << last_;
  EXPECT_EQ(Brook({"consume", "nope"}).exit_code, 3) << last_;
  EXPECT_EQ(Brook({"consume", "known", "--partition=5"}).exit_code, 3) << last_;
  EXPECT_EQ(Brook({"group", "offsets", "g", "nope"}).exit_code, 3) << last_;

  auto bad_flag = Brook({"topic", "list", "--bogus"});
  EXPECT_EQ(bad_flag.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(bad_flag.err, "unknown flag --bogus")) << last_;
  EXPECT_EQ(Brook({"topic", "create", "x", "--partitions=many"}).exit_code, 2) << last_;
  EXPECT_EQ(Brook({"consume", "known", "--offset=1", "--from-beginning"}).exit_code, 2) << last_;
  EXPECT_EQ(Brook({"frobnicate"}).exit_code, 2) << last_;
  EXPECT_EQ(Brook({"topic", "create", "bad name!"}).exit_code, 1) << "the server rejects the name: " << last_;

  auto help = Brook({"consume", "--help"});
  EXPECT_EQ(help.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(help.out, "--from-beginning")) << last_;

  // Nothing listens on this address: a runtime error, not a usage error.
  auto unreachable =
      RunProcess({BROOK_CLI_PATH, "--bootstrap=127.0.0.1:1", "--timeout-ms=1500", "topic", "list"}, "");
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.err;
}

TEST_F(BrookCliTest, GroupOffsetsAndClusterStatus) {
  ASSERT_EQ(Brook({"topic", "create", "work", "--partitions=2"}).exit_code, 0) << last_;
  ASSERT_EQ(Brook({"produce", "work", "--partition=0"}, "a\nb\nc\n").exit_code, 0) << last_;
  ASSERT_EQ(Brook({"group", "commit", "workers", "work", "--partition=0", "--offset=1"}).exit_code, 0) << last_;
  auto offsets = Brook({"group", "offsets", "workers", "work", "--output=json"});
  ASSERT_EQ(offsets.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(offsets.out,
                                "{\"partition\":0,\"committed\":true,\"offset\":1,\"high_watermark\":3,\"lag\":2"))
      << last_;
  auto table = Brook({"group", "offsets", "workers", "work"});
  ASSERT_EQ(table.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(table.out, "LAG")) << last_;

  auto status = Brook({"cluster", "status"});
  ASSERT_EQ(status.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(status.out, "controller node")) << last_;
  EXPECT_TRUE(absl::StrContains(status.out, cluster_->node(2).client_address)) << last_;
  auto json = Brook({"cluster", "status", "--output=json"});
  ASSERT_EQ(json.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(json.out, "\"under_replicated\":[")) << last_;
  EXPECT_TRUE(absl::StrContains(json.out, "\"nodes\":[{\"id\":1")) << last_;
}

TEST_F(BrookCliTest, BenchPrintsThroughputAndLatency) {
  auto produce = Brook({"bench", "produce", "--topic=b", "--records=3000", "--record-size=100", "--partitions=2"});
  ASSERT_EQ(produce.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(produce.out, "records/s")) << last_;
  EXPECT_TRUE(absl::StrContains(produce.out, "p999")) << last_;
  auto consume = Brook({"bench", "consume", "--topic=b", "--output=json"});
  ASSERT_EQ(consume.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(consume.out, "\"records\":3000")) << last_;
}

// `bench rpc`: one record per Produce, so N calls write exactly N records at N consecutive offsets.
TEST_F(BrookCliTest, BenchRpcWritesOneRecordPerCall) {
  auto closed =
      Brook({"bench", "rpc", "--topic=r", "--records=500", "--inflight=16", "--record-size=64", "--output=json"});
  ASSERT_EQ(closed.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(closed.out, "\"bench\":\"rpc\",\"records\":500,")) << last_;
  EXPECT_TRUE(absl::StrContains(closed.out, "\"errors\":0")) << last_;
  EXPECT_TRUE(absl::StrContains(closed.out, "\"latency_of\":\"send-to-answer\"")) << last_;
  // Open loop: 200 requests due over one second at 200/s; latency is counted from when each was due.
  auto open = Brook({"bench", "rpc", "--topic=r", "--records=200", "--rate=200", "--seconds=5", "--output=json"});
  ASSERT_EQ(open.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(open.out, "\"records\":200,")) << last_;
  EXPECT_TRUE(absl::StrContains(open.out, "\"latency_of\":\"due-to-answer\"")) << last_;
  auto read = Brook({"bench", "consume", "--topic=r", "--output=json"});
  ASSERT_EQ(read.exit_code, 0) << last_;
  EXPECT_TRUE(absl::StrContains(read.out, "\"records\":700,")) << last_;
  auto bad = Brook({"bench", "rpc", "--topic=r", "--inflight=0"});
  EXPECT_EQ(bad.exit_code, 2) << last_;
  EXPECT_TRUE(absl::StrContains(bad.err, "--inflight wants 1..100000")) << last_;
}

}  // namespace
}  // namespace brook::client::testing
