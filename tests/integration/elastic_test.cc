// The elastic cluster end to end (docs/operations.md "Moving replicas"): real brookd processes move partitions'
// replicas while producers write, through a controller that is killed mid-move, and back again on a cancel.
// Every acknowledged record must be readable at its offset on every final replica, and producers must see no
// error that the client does not retry.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"
#include "tests/integration/workload.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

class ElasticTest : public ::testing::Test {
 protected:
  void Start(int nodes, int spare_nodes = 0, std::vector<std::string> flags = {}) {
    ClusterOptions o;
    o.nodes = nodes;
    o.spare_nodes = spare_nodes;
    o.extra_flags = std::move(flags);
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
    for (int i = 1; i <= spare_nodes; ++i) dead_.insert(static_cast<uint64_t>(nodes + i));  // until they join
  }
  void Join(uint64_t id, uint64_t via) {
    auto s = cluster_->Join(id, via);
    ASSERT_TRUE(s.ok()) << s;
    dead_.erase(id);
  }
  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- log of node " << n.id << " ----\n" << cluster_->LogTail(n.id, 40);
      }
    }
  }

  // DecommissionNode at the controller; `replacement` (when not 0) takes every replica (brook cluster replace).
  grpc::Status Decommission(uint64_t node, uint64_t replacement = 0) {
    v1::DecommissionNodeResponse resp;
    return AtController([&](size_t i) {
      v1::DecommissionNodeRequest req;
      req.set_node_id(node);
      req.set_replacement_node_id(replacement);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).DecommissionNode(&ctx, req, &resp);
    });
  }
  // Node states as the controller records them.
  std::map<uint64_t, v1::NodeState> States() {
    v1::DescribeClusterResponse cluster;
    auto s = AtController([&](size_t i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
    });
    std::map<uint64_t, v1::NodeState> out;
    for (const auto& n : cluster.nodes()) {
      if (s.ok()) out[n.id()] = n.state();
    }
    return out;
  }
  // DescribeCluster is answered by any node from its applied metadata, which may trail the controller's answer
  // to a change by a moment: wait (bounded) for every answer to agree.
  bool WaitState(uint64_t node, v1::NodeState state, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && States()[node] != state) {
      std::this_thread::sleep_for(100ms);
    }
    return States()[node] == state;
  }
  bool WaitRemoved(uint64_t node) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline && States()[node] != v1::NODE_REMOVED) {
      std::this_thread::sleep_for(200ms);
    }
    return States()[node] == v1::NODE_REMOVED;
  }
  void ExpectEveryPartitionOn(const std::string& topic, const std::set<uint64_t>& nodes) {
    for (const auto& [p, replicas] : Replicas(topic)) {
      EXPECT_EQ(std::set<uint64_t>(replicas.begin(), replicas.end()), nodes) << topic << "/" << p;
    }
  }

  // Calls `call(node index)` on each live node in turn until one answers other than UNAVAILABLE (the controller
  // does; the others say NotLeader), or 30 s pass.
  grpc::Status AtController(const std::function<grpc::Status(size_t)>& call) {
    grpc::Status s;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (size_t i = 0; i < client_->size(); ++i) {
        if (dead_.contains(i + 1)) continue;
        s = call(i);
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
            s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
          return s;
      }
      std::this_thread::sleep_for(100ms);
    }
    return s;
  }
  grpc::Status Move(const std::string& topic, uint32_t partition, const std::vector<uint64_t>& to) {
    return AtController([&](size_t i) {
      v1::MoveReplicasRequest req;
      req.set_topic(topic);
      req.set_partition(partition);
      for (auto n : to) req.add_replicas(n);
      v1::MoveReplicasResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).MoveReplicas(&ctx, req, &resp);
    });
  }
  v1::ListOperationsResponse Operations() {
    v1::ListOperationsResponse resp;
    auto s = AtController([&](size_t i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).ListOperations(&ctx, v1::ListOperationsRequest(), &resp);
    });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  bool WaitNoMoves(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Operations().moves_size() == 0) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  // The replicas of each partition as a live node's metadata says.
  std::map<uint32_t, std::vector<uint64_t>> Replicas(const std::string& topic) {
    std::map<uint32_t, std::vector<uint64_t>> out;
    for (size_t i = 0; i < client_->size(); ++i) {
      if (dead_.contains(i + 1)) continue;
      v1::GetMetadataRequest req;
      req.add_topics(topic);
      v1::GetMetadataResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      if (!client_->admin(i).GetMetadata(&ctx, req, &resp).ok() || resp.topics_size() != 1) continue;
      for (const auto& p : resp.topics(0).partitions()) {
        out[p.partition()].assign(p.replicas().begin(), p.replicas().end());
      }
      return out;
    }
    return out;
  }
  std::string VerifyOnReplicas(Workload& w, const std::string& topic) {
    auto replicas = Replicas(topic);
    return w.Verify([&](uint32_t p) {
      std::vector<size_t> nodes;
      for (auto id : replicas[p]) nodes.push_back(static_cast<size_t>(id - 1));
      return nodes;
    });
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<RawClient> client_;
  std::set<uint64_t> dead_;
};

// Every replica of every partition moves to other nodes (n -> n+1 around the ring) while producers write.
TEST_F(ElasticTest, EveryReplicaMovesUnderProduceLoadAndNothingIsLost) {
  Start(5);
  ASSERT_TRUE(client_->CreateTopic("elastic", 5, 3).ok());
  Workload w(client_.get(), {.topic = "elastic", .partitions = 5, .producers = 3, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1500ms);
  const auto before = Replicas("elastic");
  ASSERT_EQ(before.size(), 5u);
  for (const auto& [p, replicas] : before) {
    std::vector<uint64_t> to;
    for (auto n : replicas) to.push_back(n % 5 + 1);
    auto s = Move("elastic", p, to);
    ASSERT_TRUE(s.ok()) << "partition " << p << ": " << s.error_message();
  }
  EXPECT_GT(Operations().moves_size(), 0);
  ASSERT_TRUE(WaitNoMoves(120s)) << "moves did not finish";
  std::this_thread::sleep_for(1s);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  EXPECT_GT(w.acked_records(), 0);
  const auto after = Replicas("elastic");
  for (const auto& [p, replicas] : before) {
    std::vector<uint64_t> to;
    for (auto n : replicas) to.push_back(n % 5 + 1);
    EXPECT_EQ(after.at(p), to) << "partition " << p;
  }
  EXPECT_EQ(VerifyOnReplicas(w, "elastic"), "");
}

// The controller is killed right after the moves start: a new controller records them complete.
TEST_F(ElasticTest, MovesFinishAfterTheControllerIsKilled) {
  Start(5);
  ASSERT_TRUE(client_->CreateTopic("failover", 3, 3).ok());
  Workload w(client_.get(), {.topic = "failover", .partitions = 3, .producers = 2, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1s);
  const auto before = Replicas("failover");
  v1::DescribeClusterResponse cluster;
  ASSERT_TRUE(AtController([&](size_t i) {
                grpc::ClientContext ctx;
                return client_->admin(i).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
              }).ok());
  const uint64_t controller = cluster.controller_id();
  ASSERT_NE(controller, 0u);
  std::vector<uint64_t> others;
  for (uint64_t n = 1; n <= 5; ++n) {
    if (n != controller) others.push_back(n);
  }
  // Each partition moves onto three of the four other nodes, so no target is the node about to die.
  std::map<uint32_t, std::vector<uint64_t>> to;
  for (uint32_t p = 0; p < 3; ++p) {
    to[p] = {others[p % 4], others[(p + 1) % 4], others[(p + 2) % 4]};
    auto s = Move("failover", p, to[p]);
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) continue;  // already there
    ASSERT_TRUE(s.ok()) << "partition " << p << ": " << s.error_message();
  }
  ASSERT_TRUE(cluster_->Kill(controller).ok());
  dead_.insert(controller);
  ASSERT_TRUE(WaitNoMoves(120s)) << "moves did not finish after the controller died";
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  const auto after = Replicas("failover");
  for (uint32_t p = 0; p < 3; ++p) {
    EXPECT_EQ(std::set<uint64_t>(after.at(p).begin(), after.at(p).end()),
              std::set<uint64_t>(to[p].begin(), to[p].end()))
        << "partition " << p;
  }
  EXPECT_EQ(VerifyOnReplicas(w, "failover"), "");
  // The old controller comes back, learns it holds no replica any more (at start, or when its metadata catches
  // up) and deletes what it kept.
  ASSERT_TRUE(cluster_->Restart(controller).ok());
  dead_.erase(controller);
  ASSERT_TRUE(cluster_->WaitReady(controller, 30s).ok());
  bool held = false;
  for (const auto& [p, replicas] : before) held |= std::count(replicas.begin(), replicas.end(), controller) > 0;
  const auto deleted_by = std::chrono::steady_clock::now() + 10s;
  while (held && cluster_->LogTail(controller, 400).find("deleting its data") == std::string::npos &&
         std::chrono::steady_clock::now() < deleted_by) {
    std::this_thread::sleep_for(100ms);
  }
  if (held) {
    EXPECT_NE(cluster_->LogTail(controller, 400).find("deleting its data"), std::string::npos);
  }
}

// The controller is killed in the middle of a decommission: the new controller carries it through (the plan is in
// the metadata group), the node is removed, and nothing acknowledged is lost.
TEST_F(ElasticTest, ADecommissionFinishesAfterTheControllerIsKilledMidway) {
  Start(5);
  ASSERT_TRUE(client_->CreateTopic("drain", 5, 3).ok());
  Workload w(client_.get(), {.topic = "drain", .partitions = 5, .producers = 2, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1s);
  v1::DescribeClusterResponse cluster;
  ASSERT_TRUE(AtController([&](size_t i) {
                grpc::ClientContext ctx;
                return client_->admin(i).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
              }).ok());
  const uint64_t controller = cluster.controller_id();
  ASSERT_NE(controller, 0u);
  const uint64_t leaving = controller % 5 + 1;  // another node
  auto s = Decommission(leaving);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(cluster_->Kill(controller).ok());
  dead_.insert(controller);
  // The old controller may be the new home of one of the moves (a move to a dead node waits for it), so it comes
  // back once another node has taken the plan over.
  const auto elected_by = std::chrono::steady_clock::now() + 30s;
  uint64_t successor = 0;
  while ((successor == 0 || successor == controller) && std::chrono::steady_clock::now() < elected_by) {
    std::this_thread::sleep_for(200ms);
    (void)AtController([&](size_t i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
    });
    successor = cluster.controller_id();
  }
  ASSERT_NE(successor, controller) << "no new controller within 30 s";
  ASSERT_TRUE(cluster_->Restart(controller).ok());
  dead_.erase(controller);
  ASSERT_TRUE(cluster_->WaitReady(controller, 30s).ok());
  ASSERT_TRUE(WaitRemoved(leaving)) << "node " << leaving << " was not removed after the failover";
  dead_.insert(leaving);
  std::this_thread::sleep_for(500ms);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  for (const auto& [p, replicas] : Replicas("drain")) {
    EXPECT_EQ(std::count(replicas.begin(), replicas.end(), leaving), 0) << "partition " << p;
    EXPECT_EQ(replicas.size(), 3u) << "partition " << p;
  }
  EXPECT_EQ(VerifyOnReplicas(w, "drain"), "");
}

// Two of five nodes leave under produce load: one that is up (decommission), then one that is dead (its replicas
// are re-created on the survivors from the other replicas). Every acknowledged record stays, on every replica.
TEST_F(ElasticTest, TwoNodesLeaveUnderLoadOneOfThemDead) {
  Start(5);
  ASSERT_TRUE(client_->CreateTopic("shrink", 5, 3).ok());
  Workload w(client_.get(), {.topic = "shrink", .partitions = 5, .producers = 3, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1s);
  auto s = Decommission(5);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitRemoved(5)) << "n5 was not removed";
  dead_.insert(5);  // it takes no requests any more, and says so
  {
    v1::DescribeClusterResponse resp;
    grpc::Status removed;
    for (int i = 0; i < 50; ++i) {  // n5 learns it was removed when its metadata does
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + 5s);
      removed = client_->admin(4).DescribeCluster(&c, v1::DescribeClusterRequest(), &resp);
      if (!removed.ok()) break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(removed.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(removed.error_message().find("this node was removed from the cluster"), std::string::npos)
        << removed.error_message();
  }
  ASSERT_TRUE(cluster_->Kill(4).ok());
  dead_.insert(4);
  std::this_thread::sleep_for(1s);  // the controller stops hearing from it
  s = Decommission(4);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitRemoved(4)) << "dead n4 was not removed";
  std::this_thread::sleep_for(500ms);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  const auto after = Replicas("shrink");
  ExpectEveryPartitionOn("shrink", {1, 2, 3});
  EXPECT_EQ(VerifyOnReplicas(w, "shrink"), "");
  // A third would leave two nodes: refused, with the reason.
  s = Decommission(3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("would leave 2 active nodes"), std::string::npos) << s.error_message();
}

// The proof: under produce load the cluster grows from 3 to 5 nodes (brookd --join), a third of the
// replicas move onto the new nodes, and two of the old nodes are decommissioned. Every acknowledged record is
// readable at its offset on every final replica, and producers see no error the client does not retry.
TEST_F(ElasticTest, GrowsFromThreeToFiveUnderLoadThenTwoOldNodesLeave) {
  Start(3, /*spare_nodes=*/2);
  ASSERT_TRUE(client_->CreateTopic("grow", 6, 3).ok());
  Workload w(client_.get(), {.topic = "grow", .partitions = 6, .producers = 3, .max_duration = 180s});
  w.Start();
  std::this_thread::sleep_for(1s);
  Join(4, /*via=*/1);
  Join(5, /*via=*/2);
  auto states = States();
  for (uint64_t n = 1; n <= 5; ++n) EXPECT_EQ(states[n], v1::NODE_ACTIVE) << "node " << n;
  // A third of the 18 replicas: one of each partition moves to a new node.
  const auto before = Replicas("grow");
  for (const auto& [p, replicas] : before) {
    std::vector<uint64_t> to = replicas;
    to[p % 3] = 4 + p % 2;
    auto s = Move("grow", p, to);
    ASSERT_TRUE(s.ok()) << "partition " << p << ": " << s.error_message();
  }
  ASSERT_TRUE(WaitNoMoves(120s)) << "moves did not finish";
  for (const auto& [p, replicas] : Replicas("grow")) {
    EXPECT_EQ(std::count(replicas.begin(), replicas.end(), 4 + p % 2), 1) << "partition " << p;
  }
  for (uint64_t old : {1, 2}) {
    auto s = Decommission(old);
    ASSERT_TRUE(s.ok()) << "node " << old << ": " << s.error_message();
    ASSERT_TRUE(WaitRemoved(old)) << "node " << old << " was not removed";
    dead_.insert(old);
  }
  std::this_thread::sleep_for(500ms);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  EXPECT_GT(w.acked_records(), 0);
  ExpectEveryPartitionOn("grow", {3, 4, 5});
  EXPECT_EQ(VerifyOnReplicas(w, "grow"), "");
}

// A node whose disk is lost cannot come back under its old id (its peers refuse it, and its log says what to do);
// started empty with --join it becomes a new node, `replace` moves every replica of the lost one onto it, and
// every partition is back to three caught-up replicas.
TEST_F(ElasticTest, ANodeWhoseDiskIsLostIsReplacedAndEveryPartitionHealsFully) {
  Start(3, /*spare_nodes=*/1);
  ASSERT_TRUE(client_->CreateTopic("heal", 3, 3).ok());
  Workload w(client_.get(), {.topic = "heal", .partitions = 3, .producers = 2, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(cluster_->Kill(3).ok());
  dead_.insert(3);
  ASSERT_TRUE(cluster_->Wipe(3).ok());
  ASSERT_TRUE(cluster_->Restart(3).ok());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (cluster_->LogTail(3, 200).find("start it empty with --join") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(cluster_->LogTail(3, 200).find("came back with another data directory"), std::string::npos)
      << cluster_->LogTail(3, 40);
  ASSERT_TRUE(cluster_->Kill(3).ok());
  Join(4, /*via=*/1);
  auto s = Decommission(3, /*replacement=*/4);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitRemoved(3)) << "node 3 was not removed";
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  ExpectEveryPartitionOn("heal", {1, 2, 4});
  // Full replication, per partition: its leader counts three caught-up replicas.
  for (uint32_t p = 0; p < 3; ++p) {
    size_t caught_up = 0;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (caught_up != 3 && std::chrono::steady_clock::now() < until) {
      const int leader = client_->Leader("heal", p);
      v1::DescribeTopicRequest req;
      req.set_name("heal");
      v1::DescribeTopicResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      if (leader >= 0 && client_->admin(leader).DescribeTopic(&ctx, req, &resp).ok()) {
        caught_up = static_cast<size_t>(resp.topic().partitions(static_cast<int>(p)).caught_up_replicas_size());
      }
      if (caught_up != 3) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(caught_up, 3u) << "partition " << p;
  }
  EXPECT_EQ(VerifyOnReplicas(w, "heal"), "");
}

// What a joining node gets told when it cannot be admitted, and when its flags contradict each other.
TEST_F(ElasticTest, AJoinThatCannotBeAdmittedStopsBrookdWithTheReason) {
  Start(3);
  const std::string dir = absl::StrCat(cluster_->root(), "/joiner");
  std::filesystem::create_directories(dir);
  {
    std::ofstream secret(dir + "/wrong.secret");
    secret << "fedcba9876543210fedcba9876543210";
  }
  auto flags = [&](const std::string& secret, const std::string& more) {
    return absl::StrCat("--join=", cluster_->node(1).peer_address, " --cluster_secret_file=", secret,
                        " --data_dir=", dir, "/data --client_addr=127.0.0.1:", FreePort(),
                        " --peer_addr=127.0.0.1:", FreePort(), " --metrics_addr=127.0.0.1:", FreePort(),
                        " --join_timeout_ms=3000 ", more);
  };
  auto [code, out] = RunBrookd(flags(dir + "/wrong.secret", ""));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("refused the join"), std::string::npos) << out;
  EXPECT_NE(out.find("not signed with this cluster's secret"), std::string::npos) << out;
  const std::string secret = cluster_->root() + "/cluster.secret";
  std::tie(code, out) = RunBrookd(flags(secret, "--cluster_id=other"));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("this is cluster 'brook', not 'other'"), std::string::npos) << out;
  std::tie(code, out) = RunBrookd(flags(secret, "--node_id=7"));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("--join and --node_id do not go together"), std::string::npos) << out;
  std::tie(code, out) = RunBrookd(
      absl::StrCat("--join=127.0.0.1:", FreePort(), " --cluster_secret_file=", secret, " --data_dir=", dir,
                   "/data2 --client_addr=127.0.0.1:", FreePort(), " --peer_addr=127.0.0.1:", FreePort(),
                   " --metrics_addr=127.0.0.1:", FreePort(), " --join_timeout_ms=1500"));
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("no member admitted this node within 1500 ms"), std::string::npos) << out;
  // None of them was admitted: the cluster still has its three nodes.
  EXPECT_EQ(States().size(), 3u);
}

// A decommission is cancelled while its moves cannot finish (the node taking the replicas is paused): the node is
// active again and every partition is back where it was, with its data.
TEST_F(ElasticTest, ACancelledDecommissionLeavesTheNodeActiveAndThePartitionsWhereTheyWere) {
  Start(4);
  ASSERT_TRUE(client_->CreateTopic("undo", 2, 3).ok());
  Workload w(client_.get(), {.topic = "undo", .partitions = 2, .producers = 1, .max_duration = 60s});
  w.Start();
  std::this_thread::sleep_for(1s);
  const auto before = Replicas("undo");
  // Node 4 takes over what node 1 holds, if it holds none of node 1's partitions; else the roles swap.
  uint64_t leaving = 1, taker = 4;
  for (const auto& [p, replicas] : before) {
    if (std::count(replicas.begin(), replicas.end(), 1) > 0 &&
        std::count(replicas.begin(), replicas.end(), 4) > 0) {
      std::tie(leaving, taker) = std::pair<uint64_t, uint64_t>{2, 1};
    }
  }
  for (const auto& [p, replicas] : before) {
    if (std::count(replicas.begin(), replicas.end(), leaving) > 0 &&
        std::count(replicas.begin(), replicas.end(), taker) > 0) {
      GTEST_SKIP() << "no node pair fits this placement";
    }
  }
  auto s = Decommission(leaving, taker);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(cluster_->Pause(taker).ok());  // the new replicas cannot catch up: the moves cannot finish
  dead_.insert(taker);
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(WaitState(leaving, v1::NODE_DRAINING));
  v1::DecommissionNodeResponse resp;
  s = AtController([&](size_t i) {
    v1::DecommissionNodeRequest req;
    req.set_node_id(leaving);
    req.set_cancel(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return client_->admin(i).DecommissionNode(&ctx, req, &resp);
  });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(resp.moves_size(), 0);
  EXPECT_TRUE(WaitState(leaving, v1::NODE_ACTIVE)) << "the cancelled decommission left the node draining";
  ASSERT_TRUE(WaitNoMoves(60s));
  ASSERT_TRUE(cluster_->Resume(taker).ok());
  dead_.erase(taker);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  EXPECT_EQ(Replicas("undo"), before);
  EXPECT_EQ(VerifyOnReplicas(w, "undo"), "");
  s = AtController([&](size_t i) {
    v1::DecommissionNodeRequest req;
    req.set_node_id(leaving);
    req.set_cancel(true);
    grpc::ClientContext ctx;
    return client_->admin(i).DecommissionNode(&ctx, req, &resp);
  });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("is not being decommissioned"), std::string::npos) << s.error_message();
}

// The balancer evens leaders per node: a node that joined and took a replica of every partition, none of them as
// the first (preferred) one, becomes the preferred leader of its share, and leads it.
TEST_F(ElasticTest, TheBalancerEvensLeadersPerNodeAfterANodeJoins) {
  Start(3, /*spare_nodes=*/1, {"--leader_balance_interval_ms=300"});
  ASSERT_TRUE(client_->CreateTopic("even", 8, 3).ok());
  Join(4, /*via=*/1);
  for (const auto& [p, replicas] : Replicas("even")) {
    std::vector<uint64_t> to = replicas;
    to[1 + p % 2] = 4;  // never the first replica
    auto s = Move("even", p, to);
    ASSERT_TRUE(s.ok()) << "partition " << p << ": " << s.error_message();
  }
  ASSERT_TRUE(WaitNoMoves(60s));
  std::map<uint64_t, int> leaders;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    leaders.clear();
    for (uint32_t p = 0; p < 8; ++p) ++leaders[client_->LeaderId("even", p)];
    int lo = 8, hi = 0;
    for (uint64_t n = 1; n <= 4; ++n) {
      lo = std::min(lo, leaders[n]);
      hi = std::max(hi, leaders[n]);
    }
    if (hi - lo <= 1 && leaders[0] == 0) break;
    std::this_thread::sleep_for(200ms);
  }
  std::string got;
  for (const auto& [n, count] : leaders) absl::StrAppend(&got, " n", n, "=", count);
  for (uint64_t n = 1; n <= 4; ++n) EXPECT_EQ(leaders[n], 2) << "leaders per node:" << got;
}

// A move to a node that stops answering is cancelled: the partition goes back to where it was, with its data.
TEST_F(ElasticTest, ACancelledMoveLeavesThePartitionWhereItWas) {
  Start(4);
  ASSERT_TRUE(client_->CreateTopic("cancel", 1, 3).ok());
  Workload w(client_.get(), {.topic = "cancel", .partitions = 1, .producers = 1, .max_duration = 60s});
  w.Start();
  std::this_thread::sleep_for(1s);
  const auto before = Replicas("cancel").at(0);
  uint64_t spare = 0;
  for (uint64_t n = 1; n <= 4; ++n) {
    if (std::find(before.begin(), before.end(), n) == before.end()) spare = n;
  }
  ASSERT_TRUE(Move("cancel", 0, {spare, before[1], before[2]}).ok());
  ASSERT_TRUE(cluster_->Pause(spare).ok());  // the learner cannot catch up: the move cannot finish
  dead_.insert(spare);
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(Operations().moves_size(), 1);
  v1::CancelMoveResponse cancelled;
  auto s = AtController([&](size_t i) {
    if (i + 1 == spare) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "paused");
    v1::CancelMoveRequest req;
    req.set_topic("cancel");
    req.set_partition(0);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    return client_->admin(i).CancelMove(&ctx, req, &cancelled);
  });
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitNoMoves(60s));
  ASSERT_TRUE(cluster_->Resume(spare).ok());
  dead_.erase(spare);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  EXPECT_EQ(Replicas("cancel").at(0), before);
  EXPECT_EQ(VerifyOnReplicas(w, "cancel"), "");
}

}  // namespace
}  // namespace brook::testing
