#include "raft/memory_log.h"

#include "gtest/gtest.h"
#include "raft/raft_log.h"

namespace brook::raft {
namespace {

std::vector<Entry> Ents(Index first, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms) {
    Entry e;
    e.index = first++;
    e.term = t;
    e.record_count = 1;
    e.base_offset = e.index - 1;
    e.data = "x";
    out.push_back(e);
  }
  return out;
}

TEST(MemoryLog, AppendTruncatesConflictingSuffix) {
  MemoryLog log;
  ASSERT_TRUE(log.Append(Ents(1, {1, 1, 2, 2})).ok());
  ASSERT_TRUE(log.Append(Ents(3, {3})).ok());
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(*log.TermAt(3), 3u);
  EXPECT_FALSE(log.Append(Ents(9, {3})).ok()) << "gap";
}

TEST(MemoryLog, CompactKeepsTermAndOffsetOfLastDroppedEntry) {
  MemoryLog log;
  ASSERT_TRUE(log.Append(Ents(1, {1, 1, 2, 2})).ok());
  ASSERT_TRUE(log.Compact(3, ConfState{{1, 2, 3}, {}, {}}).ok());
  EXPECT_EQ(log.FirstIndex(), 4u);
  EXPECT_EQ(*log.TermAt(3), 2u);
  EXPECT_FALSE(log.TermAt(2).ok());
  EXPECT_EQ(log.Snapshot().next_offset, 3u);
  EXPECT_FALSE(log.Entries(2, 5, 100).ok());
  EXPECT_EQ(log.Entries(4, 5, 100)->size(), 1u);
}

TEST(RaftLog, UnstableShadowsStaleDurableSuffix) {
  MemoryLog durable;
  ASSERT_TRUE(durable.Append(Ents(1, {1, 1, 1, 1})).ok());
  RaftLog log(&durable, 2, 2);
  // A new leader's entries conflict from index 3 on: the durable 3..4 become invisible.
  EXPECT_EQ(log.MaybeAppend(2, Ents(3, {2})), 3u);
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(*log.TermAt(3), 2u);
  EXPECT_FALSE(log.TermAt(4).ok());
  EXPECT_EQ(log.StableLastIndex(), 2u);
  EXPECT_EQ(log.Slice(1, 10, 1000)->size(), 3u);
}

TEST(RaftLog, FindConflictByTermSkipsWholeTerms) {
  MemoryLog durable;
  ASSERT_TRUE(durable.Append(Ents(1, {1, 1, 2, 2, 2, 5, 5})).ok());
  RaftLog log(&durable, 0, 0);
  EXPECT_EQ(log.FindConflictByTerm(7, 3), 5u);
  EXPECT_EQ(log.FindConflictByTerm(7, 1), 2u);
  EXPECT_EQ(log.FindConflictByTerm(7, 9), 7u);
}

}  // namespace
}  // namespace brook::raft
