// Unit tests per feature, driving RaftNodes through the scripted Cluster (sim/cluster.h).
#include "raft/raft.h"

#include "gtest/gtest.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

using sim::Cluster;

// A cluster of n voters where node 1 has been elected and its no-op committed everywhere.
Cluster Elected(int n, Config base = Config()) {
  Cluster c(base);
  EXPECT_TRUE(c.AddNodes(n).ok());
  c.node(1).Campaign();
  c.Stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  return c;
}

TEST(Election, CampaignWinsAndCommitsNoopOfNewTerm) {
  Cluster c = Elected(3);
  for (NodeId id : {1, 2, 3}) {
    EXPECT_EQ(c.node(id).term(), 1u);
    EXPECT_EQ(c.node(id).leader(), 1u);
    EXPECT_EQ(c.node(id).commit_index(), 1u) << "the no-op commits on n" << id;
  }
  EXPECT_EQ(c.replica(2).applied_entries.at(0).type, EntryType::kNoop);
}

TEST(Election, FollowerCampaignsAfterRandomizedTimeout) {
  Cluster c;
  ASSERT_TRUE(c.AddNodes(3).ok());
  for (int t = 0; t < 20 && c.node(2).role() == Role::kFollower; ++t) c.Tick(2);
  EXPECT_EQ(c.node(2).role(), Role::kPreCandidate) << "pre-vote first";
  c.Stabilize();
  EXPECT_EQ(c.node(2).role(), Role::kLeader);
}

TEST(PreVote, PartitionedNodeDoesNotBumpItsTermOrDisruptTheLeader) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  for (int t = 0; t < 100; ++t) {
    c.Tick(3);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(3).term(), 1u) << "pre-vote keeps an isolated node's term";
  c.Heal();
  c.Tick(1);  // Heartbeat reaches n3 again.
  c.Stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), 1u);
  EXPECT_EQ(c.node(3).leader(), 1u);
}

TEST(CheckQuorum, LeaderStepsDownWhenQuorumLost) {
  Cluster c = Elected(3);
  c.Partition({{1}, {2, 3}});
  for (int t = 0; t < 2 * 10 + 1; ++t) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).leader(), kNoNode);
}

TEST(CheckQuorum, FollowerWithFreshLeaderIgnoresVoteRequests) {
  Cluster c = Elected(3);
  Message vote;
  vote.type = MessageType::kVote;
  vote.from = 3;
  vote.to = 2;
  vote.term = 5;
  vote.index = 100;
  vote.log_term = 5;
  ASSERT_TRUE(c.node(2).Step(vote).ok());
  EXPECT_EQ(c.node(2).term(), 1u) << "lease: a fresh leader is known, the vote is ignored";
}

TEST(Replication, ProposalsCommitOnAllNodesInOrder) {
  Cluster c = Elected(3);
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(c.node(1).Propose("e" + std::to_string(k), 1).ok());
  c.Stabilize();
  for (NodeId id : {1, 2, 3}) {
    EXPECT_EQ(c.node(id).commit_index(), 6u);
    ASSERT_EQ(c.replica(id).applied_entries.size(), 6u);
    EXPECT_EQ(c.replica(id).applied_entries[5].data, "e4");
  }
}

TEST(Replication, LeaderCountsItselfOnlyAfterPersisting) {
  Cluster c;
  ASSERT_TRUE(c.AddNodes(1).ok());
  c.node(1).Campaign();
  Ready rd = c.node(1).GetReady();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).commit_index(), 0u) << "the no-op is not durable yet";
  ASSERT_TRUE(c.replica(1).Persist(rd).ok());
  c.node(1).Advance(rd);
  EXPECT_EQ(c.node(1).commit_index(), 1u);
}

TEST(Replication, FollowerAcksOnlyAfterPersist) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  ASSERT_TRUE(c.ProcessReady(1));
  c.Deliver(2, {});
  Ready rd = c.node(2).GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.messages_after_persist.size(), 1u);
  EXPECT_EQ(rd.messages_after_persist[0].type, MessageType::kAppendResponse);
  EXPECT_TRUE(rd.MustSync());
}

TEST(Backtracking, FollowerWithLongConflictingSuffixIsRepairedInFewRoundTrips) {
  Cluster c = Elected(3);
  // n1 writes 50 entries that only it holds, then loses leadership to n2, which writes 5 of its own.
  c.Partition({{1}, {2, 3}});
  for (int k = 0; k < 50; ++k) ASSERT_TRUE(c.node(1).Propose("stale", 1).ok());
  c.Stabilize();
  NodeId leader = kNoNode;
  for (int t = 0; t < 100 && leader == kNoNode; ++t) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
    for (NodeId id : {2, 3}) {
      if (c.node(id).role() == Role::kLeader) leader = id;
    }
  }
  ASSERT_NE(leader, kNoNode);
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(c.node(leader).Propose("new", 1).ok());
  c.Stabilize();
  c.Heal();
  int rejections = 0;
  c.Tick(leader);
  for (int round = 0; round < 20; ++round) {
    for (NodeId id : {1, 2, 3}) c.ProcessReady(id);
    for (const Message& m : c.network()) rejections += m.type == MessageType::kAppendResponse && m.reject;
    c.Deliver(std::nullopt, {});
  }
  EXPECT_LE(rejections, 2) << "the conflict hint skips the whole stale term";
  EXPECT_EQ(c.node(1).last_index(), c.node(leader).last_index());
  EXPECT_EQ(*c.node(1).term_at(c.node(1).last_index()), c.node(leader).term());
}

TEST(FlowControl, InflightMessagesPerFollowerAreBounded) {
  Config base;
  base.max_inflight_msgs = 3;
  Cluster c = Elected(3, base);
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
    c.ProcessReady(1);
  }
  int appends_to_2 = 0;
  for (const Message& m : c.network()) appends_to_2 += m.type == MessageType::kAppend && m.to == 2;
  EXPECT_EQ(appends_to_2, 3);
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), 11u) << "acks open the window again";
}

TEST(FlowControl, InflightBytesPerFollowerAreBounded) {
  Config base;
  base.max_inflight_bytes = 250;
  base.max_msg_bytes = 100;
  Cluster c = Elected(3, base);
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(c.node(1).Propose(std::string(100, 'b'), 1).ok());
    c.ProcessReady(1);
  }
  uint64_t bytes_to_2 = 0;
  for (const Message& m : c.network()) {
    for (const Entry& e : m.entries) bytes_to_2 += m.to == 2 ? e.data.size() : 0;
  }
  EXPECT_EQ(bytes_to_2, 300u) << "sends stop once 250 bytes are in flight (3 appends of 100)";
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), 11u);
}

TEST(Quota, ProposalsFailFastWhenUncommittedBytesExceedQuota) {
  Config base;
  base.max_uncommitted_bytes = 10;
  Cluster c = Elected(3, base);
  c.Partition({{1}, {2, 3}});
  ASSERT_TRUE(c.node(1).Propose(std::string(8, 'a'), 1).ok());
  auto r = c.node(1).Propose(std::string(8, 'a'), 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  c.Heal();
  c.Stabilize();
  EXPECT_TRUE(c.node(1).Propose(std::string(8, 'a'), 1).ok()) << "committing frees the quota";
}

TEST(Propose, FollowerRefusesAndNamesTheLeader) {
  Cluster c = Elected(3);
  auto r = c.node(2).Propose("x", 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("n1"), std::string::npos) << r.status();
}

TEST(Offsets, LeaderStampsDenseOffsetsAndNoopsCountZero) {
  Cluster c = Elected(3);
  auto a = c.node(1).Propose("a", 3);
  auto b = c.node(1).Propose("b", 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->base_offset, 0u);
  EXPECT_EQ(b->base_offset, 3u);
  c.Stabilize();
  // A new leader continues from the end offset of its last entry.
  ASSERT_TRUE(c.node(1).TransferLeadership(2).ok());
  c.Stabilize();
  ASSERT_EQ(c.node(2).role(), Role::kLeader);
  auto d = c.node(2).Propose("d", 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->base_offset, 5u);
  c.Stabilize();
  for (const Entry& e : c.replica(3).applied_entries) {
    if (e.type != EntryType::kNormal) {
      EXPECT_EQ(e.record_count, 0u);
    }
  }
}

TEST(Transfer, TargetIsCaughtUpThenCampaignsAtOnce) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  c.Heal();
  ASSERT_TRUE(c.node(1).TransferLeadership(3).ok());
  EXPECT_EQ(c.node(1).Propose("y", 1).status().code(), absl::StatusCode::kUnavailable);
  c.Stabilize();
  EXPECT_EQ(c.node(3).role(), Role::kLeader);
  EXPECT_EQ(c.node(3).term(), 2u);
  EXPECT_EQ(c.node(1).leader(), 3u);
}

TEST(Transfer, AbortedAfterElectionTimeoutWhenTargetUnreachable) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  ASSERT_TRUE(c.node(1).TransferLeadership(3).ok());
  for (int t = 0; t < 10; ++t) {
    c.Tick(1);
    c.Stabilize();
  }
  EXPECT_EQ(c.node(1).lead_transferee(), kNoNode);
  EXPECT_TRUE(c.node(1).Propose("z", 1).ok());
}

TEST(Membership, LearnerCatchesUpBeforePromotionThenVotes) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.AddNodes(1, ConfState{}).ok());  // n4, not yet a member.
  ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  c.Partition({{1, 2, 3}, {4}});
  c.Stabilize();
  EXPECT_EQ(c.node(1).conf().learners, std::vector<NodeId>{4});
  auto promote = c.node(1).ProposeConfChange({ConfChangeType::kPromoteLearner, 4});
  EXPECT_EQ(promote.status().code(), absl::StatusCode::kFailedPrecondition) << "n4 lags";
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  EXPECT_TRUE(c.node(4).is_learner());
  EXPECT_EQ(c.node(4).commit_index(), c.node(1).commit_index());
  ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kPromoteLearner, 4}).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(4).conf().voters, (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_EQ(c.replica(4).conf.voters.size(), 4u) << "host persisted the ConfState";
}

// The learner throttle (Config::learner_bytes_per_tick): a learner copying a long log gets about the budget per
// tick, voters are not slowed, and the learner still catches up.
TEST(Membership, ALearnerCopiesAtTheThrottledRateAndCatchesUp) {
  Config base;
  base.max_msg_bytes = 1000;
  base.learner_bytes_per_tick = 1000;
  Cluster c = Elected(3, base);
  for (int k = 0; k < 40; ++k) {
    ASSERT_TRUE(c.node(1).Propose(std::string(500, 'x'), 1).ok());  // 20,000 bytes of entries
  }
  c.Stabilize();
  ASSERT_TRUE(c.AddNodes(1, ConfState{}).ok());
  ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  c.Stabilize();
  ASSERT_EQ(c.node(1).conf().learners, std::vector<NodeId>{4});
  int ticks = 0;
  uint64_t most_in_a_tick = 0;
  while (c.node(4).commit_index() < c.node(1).commit_index() && ticks < 200) {
    c.Tick(1);
    c.ProcessReady(1);
    uint64_t sent = 0;
    for (const Message& m : c.network()) {
      for (const Entry& e : m.entries) sent += m.to == 4 ? e.data.size() : 0;
    }
    most_in_a_tick = std::max(most_in_a_tick, sent);
    c.Stabilize();
    ++ticks;
  }
  EXPECT_EQ(c.node(4).commit_index(), c.node(1).commit_index()) << "the learner never caught up";
  EXPECT_GE(ticks, 15) << "20,000 bytes at 1,000 a tick took only " << ticks << " ticks";
  EXPECT_LE(most_in_a_tick, 1500u) << "a tick sent more than the budget plus one entry";
  // Voters are not throttled: a proposal of 5,000 bytes reaches them in one exchange.
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(c.node(1).Propose(std::string(500, 'y'), 1).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), c.node(1).commit_index());
}

TEST(Membership, OneChangeAtATime) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.AddNodes(1, ConfState{}).ok());
  ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  EXPECT_EQ(c.node(1).ProposeConfChange({ConfChangeType::kRemoveNode, 3}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.node(1).ProposeConfChange({ConfChangeType::kRemoveNode, 1}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Membership, RemovedNodeStopsCampaigningAndQuorumShrinks) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kRemoveNode, 3}).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(1).conf().voters, (std::vector<NodeId>{1, 2}));
  ASSERT_TRUE(c.Crash(3).ok());
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), c.node(1).last_index());
}

TEST(Compaction, LaggingFollowerGetsSnapshotThenEntries) {
  Cluster c = Elected(3);
  c.Partition({{1, 2}, {3}});
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(c.node(1).Propose("x", 2).ok());
  c.Stabilize();
  ASSERT_TRUE(c.replica(1).Compact(c.replica(1).applied).ok());
  c.node(1).Compact(c.replica(1).applied);
  ASSERT_TRUE(c.node(1).Propose("after", 1).ok());
  c.Stabilize();
  c.Heal();
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(c.node(3).commit_index(), 12u);
  EXPECT_EQ(c.node(3).first_index(), 12u) << "n3's log starts after the snapshot";
  EXPECT_EQ(c.replica(3).log->Snapshot().next_offset, 20u);
  EXPECT_EQ(c.replica(3).applied_entries.back().base_offset, 20u) << "offsets continue after the snapshot";
}

TEST(Restart, NodeRecoversDurableStateAndRejoins) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  c.Stabilize();
  ASSERT_TRUE(c.Crash(2).ok());
  ASSERT_TRUE(c.Restart(2).ok());
  EXPECT_EQ(c.node(2).term(), 1u);
  EXPECT_EQ(c.node(2).last_index(), 2u);
  ASSERT_TRUE(c.node(1).Propose("y", 1).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), 3u);
}

TEST(Quiescence, LeaderReportsAllCaughtUp) {
  Cluster c = Elected(3);
  c.Tick(1);
  c.Stabilize();
  EXPECT_TRUE(c.node(1).AllCaughtUp());
  ASSERT_TRUE(c.node(1).Propose("x", 1).ok());
  EXPECT_FALSE(c.node(1).AllCaughtUp());
}

}  // namespace
}  // namespace brook::raft
