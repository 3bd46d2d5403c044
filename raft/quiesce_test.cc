// Quiescence (docs/decisions.md D13): an idle group stops ticking and heartbeating, and wakes for any proposal or
// message, or when its host wakes it because the leader's node went quiet.
#include "gtest/gtest.h"
#include "raft/raft.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

using sim::Cluster;

Cluster Elected(int n) {
  Cluster c;
  EXPECT_TRUE(c.AddNodes(n).ok());
  c.node(1).Campaign();
  c.Stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  return c;
}

// Quiesces the leader and lets its last heartbeats reach the followers.
void Quiet(Cluster& c) {
  ASSERT_TRUE(c.node(1).CanQuiesce());
  c.node(1).Quiesce();
  c.Stabilize();
  for (NodeId id : c.ids()) ASSERT_TRUE(c.node(id).quiesced()) << "n" << id;
}

TEST(Quiesce, CaughtUpGroupGoesQuietAndTicksSendNothing) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  Quiet(c);
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(c.node(id).commit_index(), 2u) << "the last heartbeat carries the commit";
  // Ten election timeouts of ticks: no heartbeat, no election, nothing to send.
  for (int t = 0; t < 200; ++t) {
    for (NodeId id : {1, 2, 3}) c.Tick(id);
    for (NodeId id : {1, 2, 3}) EXPECT_FALSE(c.node(id).HasReady()) << "n" << id << " tick " << t;
  }
  EXPECT_TRUE(c.network().empty());
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(2).term(), 1u);
}

TEST(Quiesce, NotWhileAFollowerLags) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).commit_index(), 2u);
  EXPECT_FALSE(c.node(1).CanQuiesce()) << "n3 lacks the entry";
  c.node(1).Quiesce();
  EXPECT_FALSE(c.node(1).quiesced());
}

TEST(Quiesce, ProposalWakesLeaderAndItsAppendWakesFollowers) {
  Cluster c = Elected(3);
  Quiet(c);
  ASSERT_TRUE(c.node(1).Propose("y", 1).ok());
  EXPECT_FALSE(c.node(1).quiesced());
  c.Stabilize();
  for (NodeId id : {1, 2, 3}) {
    EXPECT_FALSE(c.node(id).quiesced()) << "n" << id;
    EXPECT_EQ(c.node(id).commit_index(), 2u) << "n" << id;
  }
  // Caught up again: it may go quiet again.
  Quiet(c);
}

TEST(Quiesce, FollowerWokenByItsHostCampaignsWhenTheLeaderIsGone) {
  Cluster c = Elected(3);
  Quiet(c);
  ASSERT_TRUE(c.Crash(1).ok());
  // Quiet, n2 and n3 would wait forever; the host wakes them when it stops hearing from n1's node.
  for (int t = 0; t < 100; ++t) c.Tick(2);
  EXPECT_EQ(c.node(2).role(), Role::kFollower) << "quiet: no election";
  c.node(2).Unquiesce();
  c.node(3).Unquiesce();
  for (int t = 0; t < 40 && c.node(2).role() != Role::kLeader && c.node(3).role() != Role::kLeader; ++t) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_TRUE(c.node(2).role() == Role::kLeader || c.node(3).role() == Role::kLeader);
}

TEST(Quiesce, AWokenLeaderKeepsLeadingThroughCheckQuorum) {
  Cluster c = Elected(3);
  Quiet(c);
  // Long quiet (nobody sent anything): a wake must not make the leader think it lost its quorum.
  ASSERT_TRUE(c.node(1).Propose("z", 1).ok());
  for (int t = 0; t < 25; ++t) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), 1u);
}

TEST(Quiesce, StrayCandidateWakesQuietNodesWithoutDeposingTheLeader) {
  Cluster c = Elected(3);
  Quiet(c);
  // n3 missed the quiesce heartbeat (it keeps ticking), times out and pre-votes: the others wake; the leader's
  // lease holds, so n3 does not win, and the woken leader's heartbeats bring it back.
  c.node(3).Unquiesce();
  for (int t = 0; t < 40; ++t) {
    c.Tick(3);
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), 1u);
  EXPECT_EQ(c.node(3).leader(), 1u);
}

}  // namespace
}  // namespace brook::raft
