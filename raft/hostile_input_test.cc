// The attacks seen against a 3-node cluster, each replayed through RaftNode::Step: a node must neither crash nor
// change state on a message it cannot trust (README.md "Distrusting input").
#include "gtest/gtest.h"
#include "raft/memory_log.h"
#include "raft/raft.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

using sim::Cluster;

Cluster Elected(int n, Config base = Config()) {
  Cluster c(base);
  EXPECT_TRUE(c.AddNodes(n).ok());
  c.node(1).Campaign();
  c.Stabilize();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  return c;
}

Message Heartbeat(NodeId from, NodeId to, Term term) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

// An append from the leader whose (prev index, prev term) match but whose entry claims an index 2^40 past the
// end: the log used to "fill the gap" with 2^40 default entries (std::bad_alloc).
Message AppendFarPastTheEnd(RaftNode& n) {
  Message m;
  m.type = MessageType::kAppend;
  m.from = 1;
  m.to = n.id();
  m.term = n.term();
  m.index = n.last_index();
  m.log_term = *n.term_at(m.index);
  m.commit = n.commit_index();
  Entry e;
  e.index = m.index + (Index{1} << 40);
  e.term = n.term();
  m.entries.push_back(e);
  return m;
}

TEST(HostileInput, AppendWithEntryIndexFarPastTheEndNeitherAllocatesNorAppends) {
  Cluster c = Elected(3);
  RaftNode& n2 = c.node(2);
  const Index last = n2.last_index();
  absl::Status s = n2.Step(AppendFarPastTheEnd(n2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(n2.last_index(), last);
  EXPECT_EQ(n2.dropped()[DropReason::kBadEntries], 1u);
  EXPECT_FALSE(n2.HasReady()) << "not even an answer";
}

// The root cause is fixed in the log itself: without the validation in front, the append is still refused.
TEST(HostileInput, TheLogRefusesTheGapEvenWithoutValidation) {
  Config base;
  base.unsafe_skip_message_validation = true;
  Cluster c = Elected(3, base);
  RaftNode& n2 = c.node(2);
  const Index last = n2.last_index();
  EXPECT_FALSE(n2.Step(AppendFarPastTheEnd(n2)).ok());
  EXPECT_EQ(n2.last_index(), last);
}

// An entry claiming an index at or below the commit index that conflicts with the committed entry: the log used
// to erase more entries of the message than it holds (undefined behaviour).
TEST(HostileInput, AppendWithEntryIndexBelowTheCommitIndexIsRefused) {
  Config base;
  base.unsafe_skip_message_validation = true;  // Reach the log: validation refuses it earlier.
  Cluster c = Elected(3, base);
  RaftNode& n2 = c.node(2);
  const Index last = n2.last_index();
  Message m = AppendFarPastTheEnd(n2);
  m.entries[0].index = 0;
  EXPECT_FALSE(n2.Step(m).ok());
  EXPECT_EQ(n2.last_index(), last);
  EXPECT_EQ(*n2.term_at(last), m.log_term);
}

// A heartbeat with term 2^64-1 used to be adopted (and persisted): the next campaign wrapped to term 0 and the
// partition stayed leaderless, across restarts.
TEST(HostileInput, HeartbeatWithTermAtTheTopOfTheRangeChangesNoTerm) {
  Cluster c = Elected(3);
  for (NodeId to : {1, 2, 3}) {
    absl::Status s = c.node(to).Step(Heartbeat(to == 1 ? 2 : 1, to, ~Term{0}));
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(c.node(to).term(), 1u);
    EXPECT_EQ(c.node(to).dropped()[DropReason::kTermOutOfBounds], 1u);
  }
  c.Stabilize();
  ASSERT_TRUE(c.Crash(2).ok());
  ASSERT_TRUE(c.Restart(2).ok());
  EXPECT_EQ(c.replica(2).hard_state.term, 1u) << "nothing was persisted";
  ASSERT_TRUE(c.node(1).Propose("after", 1).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(2).commit_index(), c.node(1).last_index()) << "the group still works";
}

TEST(HostileInput, APersistedTermBeyondTheCeilingIsRefusedNotWrapped) {
  Config config;
  config.id = 1;
  ConfState conf;
  conf.voters = {1};
  MemoryLog log;
  log.ApplySnapshot(SnapshotMeta{0, 0, 0, conf}, "");
  HardState hs;
  hs.term = kMaxTerm + 1;
  auto node = RaftNode::Create(config, &log, hs, conf, 0);
  EXPECT_EQ(node.status().code(), absl::StatusCode::kFailedPrecondition);
  // At the ceiling itself a node no longer campaigns (term + 1 would pass it).
  hs.term = kMaxTerm;
  node = RaftNode::Create(config, &log, hs, conf, 0);
  ASSERT_TRUE(node.ok());
  (*node)->Campaign();
  EXPECT_EQ((*node)->role(), Role::kFollower);
  EXPECT_EQ((*node)->term(), kMaxTerm);
}

// Heartbeats from a node that is in no configuration used to make it every node's leader (at a higher term).
TEST(HostileInput, HeartbeatsFromAStrangerAreDroppedAndCounted) {
  Cluster c = Elected(3);
  for (int k = 0; k < 100; ++k) {
    for (NodeId to : {1, 2, 3}) EXPECT_FALSE(c.node(to).Step(Heartbeat(99, to, 2 + k)).ok());
  }
  for (NodeId id : {1, 2, 3}) {
    EXPECT_EQ(c.node(id).leader(), 1u);
    EXPECT_EQ(c.node(id).term(), 1u);
    EXPECT_EQ(c.node(id).dropped()[DropReason::kNotMember], 100u);
    EXPECT_EQ(c.node(id).dropped().total(), 100u);
  }
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

// A forged snapshot sent to one follower used to be installed and persisted.
TEST(HostileInput, ForgedSnapshotsAreNeitherInstalledNorPersisted) {
  Cluster c = Elected(3);
  ASSERT_TRUE(c.node(1).Propose("a", 1).ok());
  c.Stabilize();
  RaftNode& n3 = c.node(3);
  const Index last = n3.last_index();
  Message m;
  m.type = MessageType::kSnapshot;
  m.from = 99;
  m.to = 3;
  m.term = 2;
  m.snapshot.index = 100;
  m.snapshot.term = 2;
  m.snapshot.next_offset = 1000;
  m.snapshot.conf.voters = {99};
  m.snapshot_data = "forged";
  EXPECT_FALSE(n3.Step(m).ok());  // A stranger.
  m.from = 1;
  m.term = 1;
  m.snapshot.term = 1;
  EXPECT_FALSE(n3.Step(m).ok());  // Under the leader's id, without n3 in its configuration.
  m.snapshot.conf.voters = {1, 2, 3};
  m.snapshot.index = 1;
  EXPECT_FALSE(n3.Step(m).ok());  // Below n3's commit index.
  EXPECT_EQ(n3.dropped()[DropReason::kNotMember], 1u);
  EXPECT_EQ(n3.dropped()[DropReason::kBadSnapshot], 1u);
  EXPECT_EQ(n3.dropped()[DropReason::kStaleSnapshot], 1u);
  EXPECT_FALSE(n3.HasReady()) << "nothing to persist";
  EXPECT_EQ(n3.last_index(), last);
  EXPECT_EQ(c.replica(3).log->Snapshot().index, 0u);
}

// A replica that missed the changes adding the current leader must still hear it (Raft thesis 4.1): the host
// vouches for the nodes of its cluster (Config::is_cluster_node). Without that word it waits, and only a stranger
// to the whole cluster is refused either way.
TEST(HostileInput, ALaggingReplicaHearsALeaderItDoesNotKnowOnlyOnTheHostsWord) {
  for (bool vouched : {true, false}) {
    SCOPED_TRACE(vouched ? "host vouches for n4" : "host does not know n4");
    Config base;
    base.is_cluster_node = [vouched](NodeId id) { return id <= 3 || (vouched && id == 4); };
    Cluster c = Elected(3, base);
    ASSERT_TRUE(c.AddNodes(1, ConfState{}).ok());  // n4: it asks nobody's word, knowing no configuration.
    c.Partition({{1, 2, 4}, {3}});
    ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
    c.Stabilize();
    c.Tick(1);
    c.Stabilize();
    ASSERT_TRUE(c.node(1).ProposeConfChange({ConfChangeType::kPromoteLearner, 4}).ok());
    c.Stabilize();
    ASSERT_TRUE(c.node(1).TransferLeadership(4).ok());
    c.Stabilize();
    ASSERT_EQ(c.node(4).role(), Role::kLeader);
    ASSERT_TRUE(c.node(4).Propose("x", 1).ok());
    c.Stabilize();
    ASSERT_EQ(c.node(3).conf().voters, (std::vector<NodeId>{1, 2, 3})) << "n3 missed the changes adding n4";
    c.Heal();
    for (int t = 0; t < 3; ++t) {
      c.Tick(4);
      c.Stabilize();
    }
    if (vouched) {
      EXPECT_EQ(c.node(3).commit_index(), c.node(4).commit_index());
      EXPECT_EQ(c.node(3).leader(), 4u);
      EXPECT_EQ(c.node(3).conf().voters, (std::vector<NodeId>{1, 2, 3, 4}));
    } else {
      EXPECT_LT(c.node(3).commit_index(), c.node(4).commit_index());
      EXPECT_GT(c.node(3).dropped()[DropReason::kNotMember], 0u);
    }
  }
}

}  // namespace
}  // namespace brook::raft
