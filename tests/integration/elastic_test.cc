// The elastic cluster end to end (docs/operations.md "Moving replicas"): real brookd processes move partitions'
// replicas while producers write, through a controller that is killed mid-move, and back again on a cancel.
// Every acknowledged record must be readable at its offset on every final replica, and producers must see no
// error that the client does not retry.
#include <gtest/gtest.h>

#include <algorithm>
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
  void Start(int nodes) {
    ClusterOptions o;
    o.nodes = nodes;
    auto c = Cluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
  }
  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- log of node " << n.id << " ----\n" << cluster_->LogTail(n.id, 40);
      }
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

// Two of five nodes leave under produce load: one that is up (decommission), then one that is dead (its replicas
// are re-created on the survivors from the other replicas). Every acknowledged record stays, on every replica.
TEST_F(ElasticTest, TwoNodesLeaveUnderLoadOneOfThemDead) {
  Start(5);
  ASSERT_TRUE(client_->CreateTopic("shrink", 5, 3).ok());
  Workload w(client_.get(), {.topic = "shrink", .partitions = 5, .producers = 3, .max_duration = 120s});
  w.Start();
  std::this_thread::sleep_for(1s);
  auto decommission = [&](uint64_t node) {
    v1::DecommissionNodeResponse resp;
    return AtController([&](size_t i) {
      v1::DecommissionNodeRequest req;
      req.set_node_id(node);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).DecommissionNode(&ctx, req, &resp);
    });
  };
  auto state_of = [&](uint64_t node) {
    v1::DescribeClusterResponse cluster;
    auto s = AtController([&](size_t i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      return client_->admin(i).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
    });
    for (const auto& n : cluster.nodes()) {
      if (s.ok() && n.id() == node) return n.state();
    }
    return v1::NODE_ACTIVE;
  };
  auto wait_removed = [&](uint64_t node) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < deadline && state_of(node) != v1::NODE_REMOVED) {
      std::this_thread::sleep_for(200ms);
    }
    return state_of(node) == v1::NODE_REMOVED;
  };
  auto s = decommission(5);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(wait_removed(5)) << "n5 was not removed";
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
  s = decommission(4);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(wait_removed(4)) << "dead n4 was not removed";
  std::this_thread::sleep_for(500ms);
  w.Stop();
  w.Join();
  EXPECT_EQ(w.failed_batches(), 0) << w.first_failure();
  const auto after = Replicas("shrink");
  for (const auto& [p, replicas] : after) {
    EXPECT_EQ(std::set<uint64_t>(replicas.begin(), replicas.end()), (std::set<uint64_t>{1, 2, 3}))
        << "partition " << p;
  }
  EXPECT_EQ(VerifyOnReplicas(w, "shrink"), "");
  // A third would leave two nodes: refused, with the reason.
  s = decommission(3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("would leave 2 active nodes"), std::string::npos) << s.error_message();
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
