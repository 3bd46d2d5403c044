// The attacks seen against a 3-node cluster, each replayed through RaftNode::Step: a node must neither crash nor
// change state on a message it cannot trust (README.md "Distrusting input").
#include "gtest/gtest.h"
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

// An append whose (prev index, prev term) match but whose entry claims an index 2^40 past the end: the log used
// to "fill the gap" with 2^40 default entries (std::bad_alloc).
TEST(HostileInput, AppendWithEntryIndexFarPastTheEndNeitherAllocatesNorAppends) {
  Cluster c = Elected(3);
  RaftNode& n2 = c.node(2);
  const Index last = n2.last_index();
  Message m;
  m.type = MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = n2.term();
  m.index = last;
  m.log_term = *n2.term_at(last);
  m.commit = n2.commit_index();
  Entry e;
  e.index = last + (Index{1} << 40);
  e.term = n2.term();
  m.entries.push_back(e);
  EXPECT_FALSE(n2.Step(m).ok());
  EXPECT_EQ(n2.last_index(), last);
}

// An append whose entry claims an index at or below the commit index that conflicts with the committed entry:
// the log used to erase more entries of the message than it holds (undefined behaviour).
TEST(HostileInput, AppendWithEntryIndexBelowTheCommitIndexIsRefused) {
  Cluster c = Elected(3);
  RaftNode& n2 = c.node(2);
  const Index last = n2.last_index();
  Message m;
  m.type = MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = n2.term();
  m.index = last;
  m.log_term = *n2.term_at(last);
  Entry e;
  e.index = 0;
  e.term = n2.term();
  m.entries.push_back(e);
  EXPECT_FALSE(n2.Step(m).ok());
  EXPECT_EQ(n2.last_index(), last);
  EXPECT_EQ(*n2.term_at(last), m.log_term);
}

}  // namespace
}  // namespace brook::raft
