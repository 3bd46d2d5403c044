// brookd end to end: real processes on loopback, real gRPC, real RocksDB. Each test starts its own 3-node cluster.
#include "tests/harness/cluster.h"

#include <gtest/gtest.h>

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

TEST_F(ClusterTest, ReplicatesEveryRecordToEveryReplicaInOrder) {
  ASSERT_TRUE(client_->CreateTopic("orders", 3).ok());
  Workload::Options w;
  w.topic = "orders";
  w.producers = 4;
  w.max_batches_per_producer = 300;  // 4 x 300 x 10 = 12,000 records
  Workload workload(client_.get(), w);
  workload.Start();
  workload.Join();
  EXPECT_EQ(workload.failed_batches(), 0);
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
  EXPECT_EQ(workload.failed_batches(), 0);
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
  EXPECT_EQ(workload.failed_batches(), 0);
  WaitCaughtUp("rolling", 3, {0, 1, 2});
  EXPECT_EQ(workload.Verify({0, 1, 2}), "");
}

}  // namespace
}  // namespace brook::testing
