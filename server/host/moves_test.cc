// Replica moves and partition growth, in process (server/host/testing/test_cluster.h): a partition moves onto
// other nodes with every record, one member at a time; each refusal of the controller's check; a dry run that
// changes nothing; a cancel; a move that goes on when its leader or the controller changes; AddPartitions.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/host/host.h"
#include "server/host/move_plan.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::Answer;
using testing::TestCluster;

class MovesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.CreateTopic("m", 1, 3).ok());
    ASSERT_NE(cluster_.WaitForLeader("m", 0), 0u);
    const auto& p = Assignment(1);
    from_.assign(p.replicas().begin(), p.replicas().end());
    for (uint64_t n = 1; n <= 5; ++n) {
      if (std::find(from_.begin(), from_.end(), n) == from_.end()) others_.push_back(n);
    }
  }
  internal::PartitionAssignment Assignment(uint64_t node) {
    return cluster_.host(node).cluster()->metadata.topics().at("m").partitions(0);
  }
  void Produce(int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      const std::string v = absl::StrCat(prefix, i);
      for (int attempt = 0; attempt < 50; ++attempt) {
        auto a = cluster_.ProduceAndWait(cluster_.WaitForLeader("m", 0), "m", 0, {v}, 7, written_.size());
        if (a.status.ok()) break;
        cluster_.RunTicks(2);
      }
      written_.push_back(v);
    }
  }
  Answer<v1::MoveReplicasResponse> Move(const std::vector<uint64_t>& to, bool dry_run = false) {
    v1::MoveReplicasRequest req;
    req.set_topic("m");
    req.set_partition(0);
    for (auto n : to) req.add_replicas(n);
    req.set_dry_run(dry_run);
    return cluster_.Call<v1::MoveReplicasResponse>(
        [&](Host& h, auto done) { h.MoveReplicas(req, std::move(done)); });
  }
  // Every node's metadata says the partition's replicas are `to` with no move running.
  bool Finished(const std::vector<uint64_t>& to) {
    for (uint64_t n = 1; n <= 5; ++n) {
      const auto p = Assignment(n);
      if (p.target_replicas_size() > 0) return false;
      if (!std::equal(p.replicas().begin(), p.replicas().end(), to.begin(), to.end())) return false;
    }
    return true;
  }
  // The replicas hold exactly what was written; nodes that are not replicas hold nothing of the partition.
  void ExpectPlacedOn(const std::vector<uint64_t>& replicas) {
    const auto gid = Assignment(1).group_id();
    for (uint64_t n = 1; n <= 5; ++n) {
      const bool replica = std::find(replicas.begin(), replicas.end(), n) != replicas.end();
      if (!replica) {
        EXPECT_EQ(cluster_.View(n, "m", 0), nullptr) << "n" << n << " still hosts the partition";
        const auto groups = cluster_.store(n).ListGroups();
        EXPECT_EQ(std::count(groups.begin(), groups.end(), gid), 0) << "n" << n << " kept the partition's data";
        continue;
      }
      ASSERT_TRUE(cluster_.RunUntil([&] {
        auto v = cluster_.View(n, "m", 0);
        return v != nullptr && v->high_watermark() == written_.size();
      })) << "n"
          << n << " did not catch up";
      EXPECT_EQ(cluster_.ReadValues(n, "m", 0), written_) << "n" << n;
    }
  }

  TestCluster cluster_{5};
  std::vector<uint64_t> from_, others_;
  std::vector<std::string> written_;
};

TEST_F(MovesTest, APartitionMovesOntoOtherNodesWithEveryRecord) {
  Produce(40, "before-");
  const std::vector<uint64_t> to = {others_[0], others_[1], from_[1]};
  auto a = Move(to);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_TRUE(a.response.started());
  Produce(20, "during-");
  ASSERT_TRUE(cluster_.RunUntil([&] { return Finished(to); }, 20000)) << "the move did not finish";
  Produce(10, "after-");
  ExpectPlacedOn(to);
  EXPECT_TRUE(Assignment(1).moved());
  // The preferred replica (the first) takes the leadership once the balancer looks.
  EXPECT_TRUE(cluster_.RunUntil([&] { return cluster_.WaitForLeader("m", 0) == to[0]; }, 20000));
}

// Leader hints (docs/decisions.md A17): a node without a replica names the partition's leader from the leader's
// announcements; a replica is told nothing (it follows the group itself), before and after the replicas move.
TEST_F(MovesTest, NodesWithoutAReplicaNameTheLeaderAndReplicasAreNotAnnouncedTo) {
  const uint64_t gid = Assignment(1).group_id();
  auto names_leader = [&](const std::vector<uint64_t>& replicas) {
    const uint64_t leader = cluster_.WaitForLeader("m", 0);
    for (uint64_t n = 1; n <= 5; ++n) {
      const auto view = cluster_.host(n).cluster();
      const bool replica = std::find(replicas.begin(), replicas.end(), n) != replicas.end();
      if (replica ? view->leader_hints.contains(gid) : view->HintedLeader(gid).first != leader) return false;
    }
    return true;
  };
  EXPECT_TRUE(cluster_.RunUntil([&] { return names_leader(from_); }, 2000));
  const std::vector<uint64_t> to = {others_[0], others_[1], from_[1]};
  ASSERT_TRUE(Move(to).status.ok());
  ASSERT_TRUE(cluster_.RunUntil([&] { return Finished(to); }, 20000)) << "the move did not finish";
  EXPECT_TRUE(cluster_.RunUntil([&] { return names_leader(to); }, 2000));
}

TEST_F(MovesTest, EveryReplicaCanMoveIncludingTheLeader) {
  Produce(30, "r-");
  const uint64_t leader = cluster_.WaitForLeader("m", 0);
  std::vector<uint64_t> to = {others_[0], others_[1]};
  for (uint64_t n : from_) {
    if (n != leader && to.size() < 3) to.push_back(n);
  }
  auto a = Move(to);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_TRUE(cluster_.RunUntil([&] { return Finished(to); }, 20000));
  ExpectPlacedOn(to);
  Produce(5, "after-");
  ExpectPlacedOn(to);
}

TEST_F(MovesTest, TheControllerRefusesWhatCannotBeDoneAndSaysWhy) {
  auto expect = [&](const std::vector<uint64_t>& to, grpc::StatusCode code, const std::string& says) {
    auto a = Move(to);
    EXPECT_EQ(a.status.error_code(), code) << a.status.error_message();
    EXPECT_NE(a.status.error_message().find(says), std::string::npos) << a.status.error_message();
  };
  expect({others_[0], others_[1]}, grpc::StatusCode::INVALID_ARGUMENT, "replication factor 3");
  expect({others_[0], others_[0], from_[0]}, grpc::StatusCode::INVALID_ARGUMENT, "twice");
  expect({others_[0], 9, from_[0]}, grpc::StatusCode::INVALID_ARGUMENT, "node 9 is not an active member");
  expect(from_, grpc::StatusCode::INVALID_ARGUMENT, "already are");
  // A target that is down cannot copy the log.
  cluster_.Isolate(others_[0]);
  cluster_.RunTicks(30);
  expect({others_[0], from_[1], from_[2]}, grpc::StatusCode::FAILED_PRECONDITION, "not reachable");
  cluster_.Heal();
  cluster_.RunTicks(10);
  // A move while another runs.
  ASSERT_TRUE(Move({others_[0], from_[1], from_[2]}).status.ok());
  expect({others_[1], from_[1], from_[2]}, grpc::StatusCode::FAILED_PRECONDITION, "already runs");
  EXPECT_TRUE(cluster_.RunUntil([&] { return Finished({others_[0], from_[1], from_[2]}); }, 20000));
}

TEST_F(MovesTest, AMoveNeedsAMajorityOfTheCurrentReplicasUp) {
  const uint64_t controller = cluster_.WaitForController();
  std::vector<uint64_t> down;
  for (uint64_t n : from_) {
    if (n != controller && down.size() < 2) down.push_back(n);
  }
  if (down.size() < 2) GTEST_SKIP() << "the controller holds two of the replicas";
  for (uint64_t n : down) cluster_.Isolate(n);
  cluster_.RunTicks(30);
  std::vector<uint64_t> to = {others_[0], others_[1]};
  for (uint64_t n : from_) {
    if (std::find(down.begin(), down.end(), n) == down.end()) to.push_back(n);
  }
  auto a = Move(to);
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << a.status.error_message();
  EXPECT_NE(a.status.error_message().find("are reachable; a move needs 2"), std::string::npos)
      << a.status.error_message();
}

TEST_F(MovesTest, ADryRunShowsThePlanAndChangesNothing) {
  const std::vector<uint64_t> to = {others_[0], from_[1], from_[2]};
  auto a = Move(to, true);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_FALSE(a.response.started());
  std::vector<std::string> steps;
  for (const auto& s : a.response.plan()) steps.push_back(DescribeStep(s));
  const std::vector<std::string> want = {
      absl::StrCat("add n", others_[0], " as a learner"), absl::StrCat("promote n", others_[0], " to voter"),
      absl::StrCat("transfer leadership to n", others_[0]), absl::StrCat("remove n", from_[0])};
  EXPECT_EQ(steps, want);
  cluster_.RunTicks(40);
  EXPECT_EQ(Assignment(1).target_replicas_size(), 0);
  EXPECT_EQ(cluster_.View(others_[0], "m", 0), nullptr);
}

TEST_F(MovesTest, ACancelledMoveGoesBackToWhereItStarted) {
  Produce(10, "c-");
  // Hold the new node back so the move cannot finish before the cancel.
  cluster_.Pause(others_[0]);
  const std::vector<uint64_t> to = {others_[0], from_[1], from_[2]};
  // Reachability is judged before the pause shows.
  ASSERT_TRUE(Move(to).status.ok());
  cluster_.RunTicks(10);
  auto c = cluster_.Call<v1::CancelMoveResponse>([&](Host& h, auto done) {
    v1::CancelMoveRequest req;
    req.set_topic("m");
    req.set_partition(0);
    h.CancelMove(req, std::move(done));
  });
  ASSERT_TRUE(c.status.ok()) << c.status.error_message();
  EXPECT_EQ(std::vector<uint64_t>(c.response.replicas().begin(), c.response.replicas().end()), from_);
  cluster_.Resume(others_[0]);
  ASSERT_TRUE(cluster_.RunUntil([&] { return Finished(from_); }, 20000));
  Produce(5, "after-");
  ExpectPlacedOn(from_);
  auto again = cluster_.Call<v1::CancelMoveResponse>([&](Host& h, auto done) {
    v1::CancelMoveRequest req;
    req.set_topic("m");
    req.set_partition(0);
    h.CancelMove(req, std::move(done));
  });
  EXPECT_EQ(again.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(MovesTest, AMoveGoesOnAfterTheControllerStops) {
  Produce(20, "f-");
  const uint64_t controller = cluster_.WaitForController();
  std::vector<uint64_t> to;
  for (uint64_t n = 1; n <= 5 && to.size() < 3; ++n) {
    if (n != controller) to.push_back(n);
  }
  if (std::equal(to.begin(), to.end(), from_.begin(), from_.end())) std::swap(to[0], to[1]);
  ASSERT_TRUE(Move(to).status.ok());
  cluster_.StopHost(controller);
  auto finished = [&] {
    for (uint64_t n : to) {
      const auto p = Assignment(n);
      if (p.target_replicas_size() > 0 ||
          !std::equal(p.replicas().begin(), p.replicas().end(), to.begin(), to.end()))
        return false;
    }
    return true;
  };
  ASSERT_TRUE(cluster_.RunUntil(finished, 30000)) << "the move did not finish after the controller stopped";
  for (uint64_t n : to) {
    ASSERT_TRUE(cluster_.RunUntil([&] {
      auto v = cluster_.View(n, "m", 0);
      return v != nullptr && v->high_watermark() == written_.size();
    }));
    EXPECT_EQ(cluster_.ReadValues(n, "m", 0), written_) << "n" << n;
  }
}

TEST_F(MovesTest, ListOperationsShowsARunningMoveAndItsProgress) {
  Produce(30, "p-");
  cluster_.Pause(others_[0]);
  ASSERT_TRUE(Move({others_[0], from_[1], from_[2]}).status.ok());
  cluster_.RunTicks(40);
  auto list = cluster_.Call<v1::ListOperationsResponse>([](Host& h, auto done) { h.ListOperations(done); });
  ASSERT_TRUE(list.status.ok()) << list.status.error_message();
  ASSERT_EQ(list.response.moves_size(), 1);
  const auto& m = list.response.moves(0);
  EXPECT_EQ(m.topic(), "m");
  EXPECT_GT(m.reported_ms(), 0);
  EXPECT_EQ(m.records_total(), 30u);
  EXPECT_EQ(m.records_copied(), 0u);
  EXPECT_EQ(std::vector<uint64_t>(m.learners().begin(), m.learners().end()), std::vector<uint64_t>{others_[0]});
  cluster_.Resume(others_[0]);
  ASSERT_TRUE(cluster_.RunUntil([&] { return Finished({others_[0], from_[1], from_[2]}); }, 20000));
  list = cluster_.Call<v1::ListOperationsResponse>([](Host& h, auto done) { h.ListOperations(done); });
  EXPECT_EQ(list.response.moves_size(), 0);
}

Answer<v1::DecommissionNodeResponse> Decommission(TestCluster& c, uint64_t node, bool dry_run = false,
                                                  uint64_t replacement = 0) {
  v1::DecommissionNodeRequest req;
  req.set_node_id(node);
  req.set_dry_run(dry_run);
  req.set_replacement_node_id(replacement);
  return c.Call<v1::DecommissionNodeResponse>(
      [&](Host& h, auto done) { h.DecommissionNode(req, std::move(done)); });
}

// Node `node` holds no replica, has left the metadata group and is recorded REMOVED on every other node.
bool Gone(TestCluster& c, uint64_t node) {
  const auto& records = c.host(c.WaitForController()).cluster()->metadata.nodes();
  for (uint64_t n = 1; n <= 5; ++n) {
    // Nodes removed before are left out: they no longer hear from the metadata group.
    if (n == node || (records.contains(n) && records.at(n).state() == v1::NODE_REMOVED)) continue;
    const auto view = c.host(n).cluster();
    if (std::count(view->nodes.begin(), view->nodes.end(), node) == 0) return false;  // records stay listed
    auto rec = view->metadata.nodes().find(node);
    if (rec == view->metadata.nodes().end() || rec->second.state() != v1::NODE_REMOVED) return false;
    for (const auto& [name, t] : view->metadata.topics()) {
      for (const auto& p : t.partitions()) {
        if (std::count(p.replicas().begin(), p.replicas().end(), node) > 0) return false;
      }
    }
  }
  return true;
}

TEST_F(MovesTest, DecommissionMovesEveryReplicaOffAndRemovesTheNode) {
  Produce(20, "d-");
  const uint64_t controller = cluster_.WaitForController();
  const uint64_t node = from_[0] != controller ? from_[0] : from_[1];
  auto dry = Decommission(cluster_, node, true);
  ASSERT_TRUE(dry.status.ok()) << dry.status.error_message();
  ASSERT_EQ(dry.response.moves_size(), 1);
  EXPECT_FALSE(dry.response.started());
  const auto& planned = dry.response.moves(0).to_replicas();
  EXPECT_EQ(std::count(planned.begin(), planned.end(), node), 0);
  cluster_.RunTicks(20);
  EXPECT_EQ(cluster_.host(1).cluster()->metadata.nodes().at(node).state(), v1::NODE_ACTIVE)
      << "a dry run changed it";

  auto a = Decommission(cluster_, node);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_TRUE(a.response.started());
  auto again = Decommission(cluster_, node);
  EXPECT_EQ(again.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(again.status.error_message().find("NODE_DRAINING already"), std::string::npos)
      << again.status.error_message();
  Produce(10, "during-");
  ASSERT_TRUE(cluster_.RunUntil([&] { return Gone(cluster_, node); }, 30000)) << "n" << node << " was not removed";
  const auto placed = Assignment(controller);
  ExpectPlacedOn(std::vector<uint64_t>(placed.replicas().begin(), placed.replicas().end()));
  EXPECT_TRUE(cluster_.RunUntil([&] { return !cluster_.host(node).ready(); }))
      << "a removed node says it is ready";
  // Placement skips it from now on.
  ASSERT_TRUE(cluster_.CreateTopic("after", 5, 3).ok());
  for (const auto& p : cluster_.host(controller).cluster()->metadata.topics().at("after").partitions()) {
    EXPECT_EQ(std::count(p.replicas().begin(), p.replicas().end(), node), 0);
  }
}

TEST_F(MovesTest, DecommissionRefusesWhatWouldLeaveTooFewNodes) {
  auto unknown = Decommission(cluster_, 9);
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND) << unknown.status.error_message();
  const uint64_t controller = cluster_.WaitForController();
  std::vector<uint64_t> victims;
  for (uint64_t n = 1; n <= 5 && victims.size() < 3; ++n) {
    if (n != controller) victims.push_back(n);
  }
  ASSERT_TRUE(Decommission(cluster_, victims[0]).status.ok());
  ASSERT_TRUE(cluster_.RunUntil([&] { return Gone(cluster_, victims[0]); }, 30000));
  ASSERT_TRUE(Decommission(cluster_, victims[1]).status.ok());
  ASSERT_TRUE(cluster_.RunUntil([&] { return Gone(cluster_, victims[1]); }, 30000));
  auto third = Decommission(cluster_, victims[2]);
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(third.status.error_message().find("would leave 2 active nodes"), std::string::npos)
      << third.status.error_message();
  Produce(5, "three-left-");
}

TEST_F(MovesTest, ReplaceMovesEveryReplicaToTheNamedNode) {
  Produce(15, "r-");
  const uint64_t controller = cluster_.WaitForController();
  const uint64_t node = from_[0] != controller ? from_[0] : from_[1];
  auto holds = Decommission(cluster_, node, false, from_[2] != node ? from_[2] : from_[0]);
  EXPECT_EQ(holds.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(holds.status.error_message().find("already holds m/0"), std::string::npos)
      << holds.status.error_message();
  auto stranger = Decommission(cluster_, node, false, 9);
  EXPECT_NE(stranger.status.error_message().find("is not another active member"), std::string::npos)
      << stranger.status.error_message();
  auto a = Decommission(cluster_, node, false, others_[1]);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_EQ(a.response.moves_size(), 1);
  const auto& to = a.response.moves(0).to_replicas();
  EXPECT_EQ(std::count(to.begin(), to.end(), others_[1]), 1);
  ASSERT_TRUE(cluster_.RunUntil([&] { return Gone(cluster_, node); }, 30000));
  const auto placed = Assignment(controller);
  EXPECT_EQ(std::count(placed.replicas().begin(), placed.replicas().end(), others_[1]), 1);
  ExpectPlacedOn(std::vector<uint64_t>(placed.replicas().begin(), placed.replicas().end()));
}

TEST_F(MovesTest, TheControllerCanDecommissionItself) {
  Produce(10, "c-");
  const uint64_t controller = cluster_.WaitForController();
  ASSERT_TRUE(Decommission(cluster_, controller).status.ok());
  ASSERT_TRUE(cluster_.RunUntil([&] { return Gone(cluster_, controller); }, 30000));
  EXPECT_NE(cluster_.WaitForController(), controller);
  Produce(5, "after-");
  const auto placed = Assignment(cluster_.WaitForController());
  ExpectPlacedOn(std::vector<uint64_t>(placed.replicas().begin(), placed.replicas().end()));
}

TEST_F(MovesTest, AddPartitionsGrowsATopicOnline) {
  auto a = cluster_.Call<v1::Topic>([](Host& h, auto done) {
    v1::AddPartitionsRequest req;
    req.set_topic("m");
    req.set_partition_count(4);
    h.AddPartitions(req, std::move(done));
  });
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.partition_count(), 4u);
  for (uint32_t p = 1; p < 4; ++p) {
    const uint64_t leader = cluster_.WaitForLeader("m", p);
    ASSERT_NE(leader, 0u) << "partition " << p;
    EXPECT_TRUE(cluster_.ProduceAndWait(leader, "m", p, {"x"}).status.ok());
  }
  auto shrink = cluster_.Call<v1::Topic>([](Host& h, auto done) {
    v1::AddPartitionsRequest req;
    req.set_topic("m");
    req.set_partition_count(2);
    h.AddPartitions(req, std::move(done));
  });
  EXPECT_EQ(shrink.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(shrink.status.error_message().find("has 4 partitions"), std::string::npos);
}

}  // namespace
}  // namespace brook::server
