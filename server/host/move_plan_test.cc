// The membership steps of a replica move (move_plan.h), on simulated groups: a seeded sweep over moves of every
// size checks that each step changes one member, the group never has more than one voter above its size, the
// leader is never removed while it leads, and every move ends at its target.
#include "server/host/move_plan.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace brook::server {
namespace {

std::vector<std::string> Describe(const std::vector<v1::MoveStep>& plan) {
  std::vector<std::string> out;
  for (const auto& s : plan) out.push_back(DescribeStep(s));
  return out;
}

TEST(MovePlan, MovingEveryReplicaKeepsAtMostOneExtraVoter) {
  EXPECT_EQ(Describe(PlanMove({1, 2, 3}, {4, 5, 6})),
            (std::vector<std::string>{"add n4 as a learner", "add n5 as a learner", "add n6 as a learner",
                                      "promote n4 to voter", "remove n2", "promote n5 to voter", "remove n3",
                                      "promote n6 to voter", "transfer leadership to n4", "remove n1"}));
}

TEST(MovePlan, ReorderingTheSameReplicasChangesNoMember) { EXPECT_TRUE(PlanMove({1, 2, 3}, {3, 1, 2}).empty()); }

TEST(MovePlan, ADeadLeavingVoterIsRemovedBeforeAnythingIsAdded) {
  raft::ConfState conf{{1, 2, 3}, {}, {}};
  MemberHealth health{[](raft::NodeId n) { return n != 3; }, [](raft::NodeId) { return true; }};
  MoveAction a = NextMoveStep(conf, {1, 2, 4}, 1, health);
  ASSERT_EQ(a.kind, MoveAction::Kind::kStep);
  EXPECT_EQ(DescribeStep(a.step), "remove n3");
}

TEST(MovePlan, ALaggingLearnerIsWaitedFor) {
  raft::ConfState conf{{1, 2, 3}, {4}, {}};
  MemberHealth health{[](raft::NodeId) { return true; }, [](raft::NodeId n) { return n != 4; }};
  EXPECT_EQ(NextMoveStep(conf, {1, 2, 4}, 1, health).kind, MoveAction::Kind::kWait);
}

TEST(MovePlan, ALeaderThatLeavesWaitsForACaughtUpSuccessor) {
  raft::ConfState conf{{1, 4, 5, 6}, {}, {}};
  MemberHealth lagging{[](raft::NodeId) { return true; }, [](raft::NodeId n) { return n == 1; }};
  EXPECT_EQ(NextMoveStep(conf, {4, 5, 6}, 1, lagging).kind, MoveAction::Kind::kWait);
  MemberHealth well{[](raft::NodeId) { return true; }, [](raft::NodeId) { return true; }};
  EXPECT_EQ(DescribeStep(NextMoveStep(conf, {4, 5, 6}, 1, well).step), "transfer leadership to n4");
}

TEST(MovePlan, ACancelledLearnerIsRemoved) {
  raft::ConfState conf{{1, 2, 3}, {4}, {}};
  MemberHealth well{[](raft::NodeId) { return true; }, [](raft::NodeId) { return true; }};
  EXPECT_EQ(DescribeStep(NextMoveStep(conf, {1, 2, 3}, 1, well).step), "remove n4");
}

// Random moves between random sets of 1..5 of nodes 1..8, with members that are down or lagging at random
// moments: every step keeps the invariants, and the move ends at its target once everyone is well.
TEST(MovePlan, SeededSweepKeepsTheInvariantsAndEndsAtTheTarget) {
  std::mt19937_64 rng(20261130);
  for (int round = 0; round < 3000; ++round) {
    const size_t size = 1 + rng() % 5;
    std::vector<raft::NodeId> nodes = {1, 2, 3, 4, 5, 6, 7, 8};
    std::shuffle(nodes.begin(), nodes.end(), rng);
    std::vector<raft::NodeId> from(nodes.begin(), nodes.begin() + size);
    std::shuffle(nodes.begin(), nodes.end(), rng);
    std::vector<raft::NodeId> to(nodes.begin(), nodes.begin() + size);
    raft::ConfState conf{from, {}, {}};
    raft::NodeId leader = from[0];
    int steps = 0;
    for (; steps < 200; ++steps) {
      const bool trouble = steps < 40;  // members come and go for a while, then stay well
      std::set<raft::NodeId> down, lagging;
      for (raft::NodeId n = 1; n <= 8; ++n) {
        if (n != leader && trouble && rng() % 4 == 0) down.insert(n);
        if (n != leader && trouble && rng() % 3 == 0) lagging.insert(n);
      }
      MemberHealth health{[&](raft::NodeId n) { return !down.contains(n); },
                          [&](raft::NodeId n) { return !lagging.contains(n) && !down.contains(n); }};
      MoveAction a = NextMoveStep(conf, to, leader, health);
      if (a.kind == MoveAction::Kind::kDone) break;
      if (a.kind == MoveAction::Kind::kWait) continue;
      const raft::NodeId n = a.step.node_id();
      switch (a.step.kind()) {
        case v1::MoveStep::ADD_LEARNER:
          ASSERT_EQ(std::count(conf.voters.begin(), conf.voters.end(), n), 0);
          conf.learners.push_back(n);
          break;
        case v1::MoveStep::PROMOTE:
          ASSERT_TRUE(health.caught_up(n)) << "promoted a lagging learner";
          std::erase(conf.learners, n);
          conf.voters.push_back(n);
          break;
        case v1::MoveStep::REMOVE:
          ASSERT_NE(n, leader) << "removed the leader";
          std::erase(conf.voters, n);
          std::erase(conf.learners, n);
          break;
        case v1::MoveStep::TRANSFER_LEADER:
          ASSERT_TRUE(health.caught_up(n));
          ASSERT_EQ(std::count(to.begin(), to.end(), n), 1) << "leadership went to a leaving node";
          leader = n;
          break;
        default:
          FAIL();
      }
      ASSERT_LE(conf.voters.size(), to.size() + 1) << "round " << round;
      ASSERT_FALSE(conf.voters.empty());
    }
    ASSERT_LT(steps, 200) << "round " << round << ": no end from " << absl::StrJoin(from, ",") << " to "
                          << absl::StrJoin(to, ",");
    EXPECT_EQ(std::set<raft::NodeId>(conf.voters.begin(), conf.voters.end()),
              std::set<raft::NodeId>(to.begin(), to.end()));
    EXPECT_TRUE(conf.learners.empty());
  }
}

}  // namespace
}  // namespace brook::server
