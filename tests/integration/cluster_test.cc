// brookd end to end: real processes on loopback, real gRPC, real RocksDB. Each test starts its own 3-node cluster.
#include "tests/harness/cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/raw_client.h"
#include "tests/integration/workload.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
  }

  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- log of node " << n.id << " ----\n" << cluster_->LogTail(n.id, 30);
      }
    }
  }

  // Index into the client's address list of a node id.
  static size_t IndexOf(uint64_t id) { return static_cast<size_t>(id - 1); }

  void WaitCaughtUp(const std::string& topic, uint32_t partitions, const std::vector<size_t>& nodes,
                    std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (uint32_t p = 0; p < partitions; ++p) {
      while (true) {
        std::optional<uint64_t> first;
        bool same = true;
        for (size_t n : nodes) {
          auto hwm = client_->HighWatermark(n, topic, p);
          if (!hwm || (first && *first != *hwm)) same = false;
          if (hwm && !first) first = hwm;
        }
        if (same) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "partition " << p << " did not converge";
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<RawClient> client_;
};

// A second brookd given a port a node already serves on must stop and say so: with gRPC's default SO_REUSEPORT
// both would listen, and the port's connections would be split between two nodes.
TEST_F(ClusterTest, APortInUseOrGivenTwiceStopsBrookdWithAMessage) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "brook-port-test-", getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream secret(dir + "/secret");
    secret << "0123456789abcdef0123456789abcdef";
  }
  const std::string own_peer = absl::StrCat("127.0.0.1:", FreePort());
  const std::string common = absl::StrCat("--node_id=9 --initial_members=9=", own_peer,
                                          " --cluster_secret_file=", dir, "/secret --data_dir=", dir, "/data");
  auto [code, out] = RunBrookd(absl::StrCat(common, " --client_addr=", cluster_->node(1).client_address,
                                            " --peer_addr=", own_peer, " --metrics_addr=127.0.0.1:", FreePort()));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(code, 124) << "brookd shared a port another node listens on:\n" << out;
  EXPECT_NE(out.find("cannot listen on --client_addr " + cluster_->node(1).client_address), std::string::npos)
      << out;
  std::tie(code, out) = RunBrookd(absl::StrCat(common, " --client_addr=", own_peer, " --peer_addr=", own_peer,
                                               " --metrics_addr=127.0.0.1:", FreePort()));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("must be three different addresses"), std::string::npos) << out;
  EXPECT_TRUE(cluster_->CheckAlive(1).ok()) << "the node whose port was tried keeps running";
  std::filesystem::remove_all(dir);
}

TEST_F(ClusterTest, ReplicatesEveryRecordToEveryReplicaInOrder) {
  ASSERT_TRUE(client_->CreateTopic("orders", 3).ok());
  Workload::Options w;
  w.topic = "orders";
  w.producers = 4;
  w.max_batches_per_producer = 300;  // 4 x 300 x 10 = 12,000 records
  Workload workload(client_.get(), w);
  workload.Start();
  workload.Join();
  EXPECT_EQ(workload.failed_batches(), 0) << workload.first_failure();
  EXPECT_EQ(workload.acked_records(), 12000);
  WaitCaughtUp("orders", 3, {0, 1, 2});
  EXPECT_EQ(workload.Verify({0, 1, 2}), "");
}

TEST_F(ClusterTest, LeaderKilledWhileProducingLosesNothingAndRejoinsCaughtUp) {
  ASSERT_TRUE(client_->CreateTopic("events", 3).ok());
  Workload::Options w;
  w.topic = "events";
  w.producers = 3;
  w.max_duration = 30s;
  Workload workload(client_.get(), w);
  workload.Start();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (workload.acked_batches() < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  uint64_t victim = client_->LeaderId("events", 0);
  ASSERT_NE(victim, 0u);
  int64_t before = workload.acked_batches();
  ASSERT_TRUE(cluster_->Kill(victim).ok());
  // Producing goes on: a new leader takes over every partition the victim led.
  while (workload.acked_batches() < before + 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  workload.Stop();
  workload.Join();
  EXPECT_GE(workload.acked_batches(), before + 200) << "producing did not continue after the leader was killed";
  EXPECT_EQ(workload.failed_batches(), 0) << workload.first_failure();
  uint64_t new_leader = client_->LeaderId("events", 0);
  EXPECT_NE(new_leader, 0u);
  EXPECT_NE(new_leader, victim);
  std::vector<size_t> alive;
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != victim) alive.push_back(IndexOf(id));
  }
  WaitCaughtUp("events", 3, alive);
  EXPECT_EQ(workload.Verify(alive), "");

  // The killed node restarts from its RocksDB and catches up with everything it missed.
  ASSERT_TRUE(cluster_->Restart(victim).ok());
  ASSERT_TRUE(cluster_->WaitReady(victim, 20s).ok());
  WaitCaughtUp("events", 3, {0, 1, 2});
  EXPECT_EQ(workload.Verify({0, 1, 2}), "");
}

TEST_F(ClusterTest, RollingRestartLosesNothing) {
  ASSERT_TRUE(client_->CreateTopic("rolling", 3).ok());
  Workload::Options w;
  w.topic = "rolling";
  w.producers = 2;
  w.max_duration = 60s;
  Workload workload(client_.get(), w);
  workload.Start();
  for (uint64_t id = 1; id <= 3; ++id) {
    int64_t before = workload.acked_batches();
    auto s = cluster_->Terminate(id, 15s);
    ASSERT_TRUE(s.ok()) << "graceful stop of node " << id << ": " << s << "\n" << cluster_->LogTail(id);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (workload.acked_batches() < before + 50 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_GE(workload.acked_batches(), before + 50) << "no progress while node " << id << " was down";
    ASSERT_TRUE(cluster_->Restart(id).ok());
    ASSERT_TRUE(cluster_->WaitReady(id, 20s).ok());
  }
  workload.Stop();
  workload.Join();
  EXPECT_EQ(workload.failed_batches(), 0) << workload.first_failure();
  WaitCaughtUp("rolling", 3, {0, 1, 2});
  EXPECT_EQ(workload.Verify({0, 1, 2}), "");

  // After the rolling restart the last node to restart leads nothing until the leader balancer (default interval
  // 10 s) hands every partition back to its preferred replica: leaders are spread as placement put them.
  std::string off;
  auto deadline = std::chrono::steady_clock::now() + 45s;
  do {
    std::this_thread::sleep_for(500ms);
    grpc::ClientContext ctx;
    v1::DescribeTopicRequest req;
    req.set_name("rolling");
    v1::DescribeTopicResponse resp;
    off = "no answer";
    if (!client_->admin(0).DescribeTopic(&ctx, req, &resp).ok()) continue;
    off.clear();
    for (const auto& p : resp.topic().partitions()) {
      if (p.leader_id() != p.replicas(0)) absl::StrAppend(&off, " p", p.partition(), " led by n", p.leader_id());
    }
  } while (!off.empty() && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(off, "") << "partitions still led off their preferred replica 45 s after the rolling restart";
}

// A stop request that reaches a node while it is still starting (a supervisor restarting it twice in a row, an
// operator's second `docker stop`) waits until the node has started, then stops it gracefully with exit 0: it
// never kills a half-started node.
TEST_F(ClusterTest, ASigtermWhileTheNodeIsStartingStopsItGracefully) {
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(cluster_->Terminate(2, 15s).ok());
    ASSERT_TRUE(cluster_->Restart(2).ok());
    auto s = cluster_->Terminate(2, 15s);
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s << "\n" << cluster_->LogTail(2);
    EXPECT_THAT(cluster_->LogTail(2), ::testing::HasSubstr("received SIGTERM, stopping gracefully"));
    ASSERT_TRUE(cluster_->Restart(2).ok());
    ASSERT_TRUE(cluster_->WaitReady(2, 20s).ok());
  }
}

// A node whose data directory is lost forgot its Raft logs and votes; counted in a majority under its old id, it
// could help elect a leader that lacks acknowledged records. Its peers refuse it (another incarnation) and say
// why, it never becomes ready, and the other two keep serving everything acknowledged.
TEST_F(ClusterTest, NodeThatLostItsDataDirectoryIsRefused) {
  ASSERT_TRUE(client_->CreateTopic("amnesia", 1).ok());
  auto produce = [&](int first, int count) {
    for (int i = first; i < first + count; ++i) {
      v1::ProduceRequest req;
      req.set_topic("amnesia");
      req.add_records()->set_value(absl::StrCat("r", i));
      v1::ProduceResponse resp;
      auto s = client_->Produce(req, &resp);
      ASSERT_TRUE(s.ok()) << "record " << i << ": " << s.error_message();
    }
  };
  produce(0, 20);
  ASSERT_TRUE(cluster_->Kill(3).ok());
  std::error_code ec;
  std::filesystem::remove_all(cluster_->node(3).data_dir, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(cluster_->Restart(3).ok());

  EXPECT_FALSE(cluster_->WaitReady(3, 6s).ok()) << "a node with a new, empty data directory became ready";
  EXPECT_TRUE(cluster_->CheckAlive(3).ok()) << cluster_->LogTail(3, 30);
  const std::string refused = cluster_->LogTail(3, 200);
  EXPECT_NE(refused.find("refuses this node: node 3 came back with another data directory"), std::string::npos)
      << refused;
  const std::string peer = cluster_->LogTail(1, 200);
  EXPECT_NE(peer.find("refusing node 3: node 3 came back with another data directory"), std::string::npos) << peer;

  produce(20, 10);
  std::vector<v1::StoredRecord> records;
  auto read = client_->ReadAll(IndexOf(2), "amnesia", 0, 0, 30, &records);
  ASSERT_TRUE(read.ok()) << read.error_message();
  ASSERT_EQ(records.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(records[i].value(), absl::StrCat("r", i)) << "offset " << i;
}

class RetentionTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.extra_flags = {"--retention_check_ms=100"};
    auto c = Cluster::Start(options);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
  }

  uint64_t LogStart(size_t node, const std::string& topic) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    v1::ListOffsetsRequest req;
    req.set_topic(topic);
    req.set_spec(v1::ListOffsetsRequest::EARLIEST);
    v1::ListOffsetsResponse resp;
    return client_->log(node).ListOffsets(&ctx, req, &resp).ok() ? resp.offset() : 0;
  }

  void ProduceKiB(const std::string& topic, int batches, int start) {
    for (int b = 0; b < batches; ++b) {
      v1::ProduceRequest req;
      req.set_topic(topic);
      for (int r = 0; r < 16; ++r)
        req.add_records()->set_value(absl::StrCat(start + b, "-", r, std::string(1024, 'r')));
      v1::ProduceResponse resp;
      ASSERT_TRUE(client_->Produce(req, &resp).ok());
    }
  }
};

TEST_F(RetentionTest, SizeRetentionTrimsEveryReplicaAndReadsBelowAnswerAGap) {
  v1::TopicConfig config;
  config.set_retention_bytes(128 << 10);
  ASSERT_TRUE(client_->CreateTopic("trimmed", 1, 3, 20s, config).ok());
  ProduceKiB("trimmed", 64, 0);  // about 1 MiB
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (size_t n = 0; n < 3; ++n) {
    while (LogStart(n, "trimmed") == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    EXPECT_GT(LogStart(n, "trimmed"), 0u) << "node index " << n << " never trimmed";
  }
  size_t leader = static_cast<size_t>(client_->LeaderId("trimmed", 0) - 1);
  auto hwm = client_->HighWatermark(leader, "trimmed", 0);
  ASSERT_TRUE(hwm.has_value());
  // Retention runs every 100 ms; wait for the pass that sees the last batches.
  while (*hwm - LogStart(leader, "trimmed") > 400 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  uint64_t start = LogStart(leader, "trimmed");
  grpc::ClientContext ctx;
  v1::FetchRequest f;
  f.set_topic("trimmed");
  f.set_offset(0);
  v1::FetchResponse resp;
  ASSERT_TRUE(client_->log(leader).Fetch(&ctx, f, &resp).ok());
  ASSERT_TRUE(resp.has_gap()) << "a read below the log start must answer a gap";
  EXPECT_EQ(resp.gap().reason(), v1::Gap::TRIMMED);
  EXPECT_EQ(resp.gap().start_offset(), 0u);
  EXPECT_GE(resp.gap().end_offset(), start);
  EXPECT_EQ(resp.records_size(), 0);
  // About retention_bytes stay: at least 100 KiB of records, not the whole MiB.
  EXPECT_GE(*hwm - start, 100u) << "kept too little";
  EXPECT_LE(*hwm - start, 400u) << "kept too much";
}

TEST_F(RetentionTest, FollowerBehindTheLeadersLogStartCatchesUpFromASnapshot) {
  v1::TopicConfig config;
  config.set_retention_bytes(64 << 10);
  ASSERT_TRUE(client_->CreateTopic("behind", 1, 3, 20s, config).ok());
  uint64_t leader = client_->LeaderId("behind", 0);
  uint64_t follower = leader % 3 + 1;
  ProduceKiB("behind", 8, 0);
  ASSERT_TRUE(cluster_->Kill(follower).ok());
  ProduceKiB("behind", 64, 1000);  // the leader trims far past what the follower has
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (LogStart(static_cast<size_t>(leader - 1), "behind") < 300 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GE(LogStart(static_cast<size_t>(leader - 1), "behind"), 300u);
  ASSERT_TRUE(cluster_->Restart(follower).ok());
  ASSERT_TRUE(cluster_->WaitReady(follower, 20s).ok());
  WaitCaughtUp("behind", 1, {0, 1, 2});
  EXPECT_NE(cluster_->LogTail(follower, 200).find("installed snapshot"), std::string::npos)
      << "the follower should have caught up through a snapshot";
  // Every replica serves the same records over the range they all still hold.
  uint64_t from = 0;
  for (size_t n = 0; n < 3; ++n) from = std::max(from, LogStart(n, "behind"));
  auto end = client_->HighWatermark(static_cast<size_t>(leader - 1), "behind", 0);
  ASSERT_TRUE(end.has_value());
  std::vector<std::vector<v1::StoredRecord>> reads(3);
  for (size_t n = 0; n < 3; ++n) {
    auto s = client_->ReadAll(n, "behind", 0, from, *end, &reads[n]);
    ASSERT_TRUE(s.ok()) << "node index " << n << ": " << s.error_message();
  }
  ASSERT_EQ(reads[0].size(), *end - from);
  for (size_t n = 1; n < 3; ++n) {
    ASSERT_EQ(reads[n].size(), reads[0].size());
    for (size_t i = 0; i < reads[0].size(); ++i) {
      ASSERT_EQ(reads[n][i].value(), reads[0][i].value()) << "node index " << n << " offset " << from + i;
    }
  }
  // The follower that installed the snapshot keeps serving new writes too.
  ProduceKiB("behind", 4, 5000);
  WaitCaughtUp("behind", 1, {0, 1, 2});
}

}  // namespace
}  // namespace brook::testing
