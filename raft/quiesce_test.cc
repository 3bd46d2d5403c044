// Quiescence (docs/decisions.md D13): an idle group stops ticking and heartbeating, and wakes for any proposal or
// message, or when its host wakes it because the leader's node went quiet.
#include "gtest/gtest.h"
#include "raft/raft.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

using sim::Cluster;

Cluster Elected(int n, uint64_t seed = 0) {
  Config base;
  base.seed = seed;
  Cluster c(base);
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

// The trap TiKV issue 19070 describes: a partition written while one replica is down must still be able to go
// quiet, or every such partition ticks until the replica returns.
TEST(Quiesce, WithAMemberDownTheRestGoQuietIfTheyAreAQuorumAndTheMemberCatchesUpOnReturn) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  const auto live = [](NodeId id) { return id != 3; };
  EXPECT_FALSE(c.node(1).CanQuiesce()) << "n3 lags, and counts as live without a liveness answer";
  EXPECT_FALSE(c.node(1).CanQuiesce([](NodeId id) { return id != 2; })) << "n3 lags and is live";
  ASSERT_TRUE(c.node(1).CanQuiesce(live));
  c.node(1).Quiesce(live);
  c.Stabilize();
  EXPECT_TRUE(c.node(1).quiesced());
  EXPECT_TRUE(c.node(2).quiesced());
  for (int t = 0; t < 100; ++t) c.Tick(1);
  EXPECT_FALSE(c.node(1).HasReady()) << "a quiet leader sends nothing, even to the member it lacks";
  // n3 comes back: its pre-vote (it heard no leader) wakes the group, and the leader's next heartbeat finds it
  // behind and brings it up to date (the host wakes the leader sooner, when n3's node beats again).
  c.Heal();
  for (int t = 0; t < 100 && c.node(3).commit_index() < 2; ++t) {
    for (NodeId id : {1, 2, 3}) c.Tick(id);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(3).commit_index(), 2u);
  EXPECT_EQ(c.node(1).role(), Role::kLeader) << "pre-vote does not depose a live leader";
  EXPECT_EQ(c.node(1).term(), 1u);
}

TEST(Quiesce, NotWhenTheLeaderItselfOrALiveMemberLacksTheLastEntry) {
  Cluster c = Elected(3);
  c.Partition({{1}, {2, 3}});
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  EXPECT_FALSE(c.node(1).CanQuiesce([](NodeId id) { return id == 1; })) << "uncommitted: no quorum holds it";
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

// Woken for its leader's silence, a follower counts that silence as its election timeout: it campaigns within the
// rest of its randomized timeout (under election_ticks), where a plain wake waits a whole one first.
TEST(Quiesce, FollowerWokenForItsLeadersSilenceCampaignsWithinTheRestOfItsTimeout) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Cluster c = Elected(3, seed);
    Quiet(c);
    ASSERT_TRUE(c.Crash(1).ok());
    c.node(2).WakeLeaderSilent();
    c.node(3).WakeLeaderSilent();
    auto campaigned = [&] { return c.node(2).role() != Role::kFollower || c.node(3).role() != Role::kFollower; };
    int t = 0;
    for (; t < 40 && !campaigned(); ++t) {
      c.Tick(2);
      c.Tick(3);
      c.Stabilize();
    }
    EXPECT_LT(t, Config().election_ticks) << "seed " << seed;
    // Two that campaigned in the same tick split the vote and try again: a leader follows all the same.
    for (int more = 0; more < 60 && c.node(2).role() != Role::kLeader && c.node(3).role() != Role::kLeader;
         ++more) {
      c.Tick(2);
      c.Tick(3);
      c.Stabilize();
    }
    EXPECT_TRUE(c.node(2).role() == Role::kLeader || c.node(3).role() == Role::kLeader) << "seed " << seed;
  }
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
