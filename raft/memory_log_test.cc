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
  EXPECT_EQ(*log.MaybeAppend(2, Ents(3, {2})), 3u);
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(*log.TermAt(3), 2u);
  EXPECT_FALSE(log.TermAt(4).ok());
  EXPECT_EQ(log.StableLastIndex(), 2u);
  EXPECT_EQ(log.Slice(1, 10, 1000)->size(), 3u);
}

TEST(RaftLog, MaybeAppendTrustsNoIndexInTheEntries) {
  MemoryLog durable;
  ASSERT_TRUE(durable.Append(Ents(1, {1, 1, 1})).ok());
  RaftLog log(&durable, 2, 2);
  // An entry claiming an index 2^40 past the end: refused, nothing allocated (it used to resize to 2^40 entries).
  EXPECT_EQ(log.MaybeAppend(3, Ents(Index{1} << 40, {1})).status().code(), absl::StatusCode::kInvalidArgument);
  // A gap, a repeat, an index below prev: refused.
  EXPECT_FALSE(log.MaybeAppend(3, Ents(5, {1})).ok());
  EXPECT_FALSE(log.MaybeAppend(3, Ents(3, {1})).ok());
  std::vector<Entry> twisted = Ents(4, {1, 1});
  twisted[1].index = 4;
  EXPECT_FALSE(log.MaybeAppend(3, twisted).ok());
  // prev + count would overflow.
  EXPECT_FALSE(log.MaybeAppend(~Index{0}, Ents(0, {1})).ok());
  // A conflict at or below the commit index (2): no leader may rewrite it.
  EXPECT_EQ(log.MaybeAppend(1, Ents(2, {7})).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(*log.TermAt(2), 1u);
  EXPECT_TRUE(log.unstable().entries.empty()) << "nothing changed";
  EXPECT_EQ(*log.MaybeAppend(3, Ents(4, {2, 2})), 5u);
}

TEST(UnstableLog, TruncateAndAppendNeverGrowsToFillAGap) {
  UnstableLog u;
  u.offset = 5;
  EXPECT_FALSE(u.TruncateAndAppend(Ents(Index{1} << 40, {1})));
  EXPECT_FALSE(u.TruncateAndAppend(Ents(6, {1})));
  EXPECT_TRUE(u.entries.empty());
  EXPECT_TRUE(u.TruncateAndAppend(Ents(5, {1, 1, 1})));
  EXPECT_TRUE(u.TruncateAndAppend(Ents(6, {2})));
  EXPECT_EQ(u.LastIndex(), 6u);
  EXPECT_EQ(u.entries.back().term, 2u);
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
