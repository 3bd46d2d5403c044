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

// A LogReader that counts the reads a RaftLog makes of its durable log.
class CountingLog : public LogReader {
 public:
  explicit CountingLog(const MemoryLog* log) : log_(log) {}
  absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const override {
    ++entries_reads;
    return log_->Entries(lo, hi, max_bytes);
  }
  absl::StatusOr<Term> TermAt(Index i) const override { return log_->TermAt(i); }
  Index FirstIndex() const override { return log_->FirstIndex(); }
  Index LastIndex() const override { return log_->LastIndex(); }
  SnapshotMeta Snapshot() const override { return log_->Snapshot(); }
  std::string SnapshotData() const override { return log_->SnapshotData(); }

  mutable int entries_reads = 0;

 private:
  const MemoryLog* log_;
};

// What a host does with a Ready's entries: writes them to its log, then tells the RaftLog they are durable.
void Persist(MemoryLog& durable, RaftLog& log) {
  std::vector<Entry> entries = log.unstable().entries;
  ASSERT_FALSE(entries.empty());
  const Entry last = entries.back();
  ASSERT_TRUE(durable.Append(std::move(entries)).ok());
  log.StableTo(last.index, last.term);
}

TEST(RaftLog, DurableEntriesNotYetAppliedAreReadFromMemoryAndShareTheirData) {
  MemoryLog durable;
  CountingLog counting(&durable);
  RaftLog log(&counting, 0, 0);
  log.Append(Ents(1, {1, 1, 1}));
  Persist(durable, log);
  EXPECT_TRUE(log.unstable().entries.empty());
  ASSERT_EQ(log.recent_entries().size(), 3u);
  EXPECT_EQ(log.recent_bytes(), 3u);

  auto all = log.Slice(1, 4, 1 << 20);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(counting.entries_reads, 0) << "durable but unapplied entries come from memory";
  EXPECT_EQ((*all)[0].data.data(), log.recent_entries()[0].data.data()) << "the copy shares the bytes";
  EXPECT_EQ(*log.TermAt(2), 1u);

  // Applied entries leave memory; a slice starting below the recent entries reads the durable log first.
  log.CommitTo(3);
  log.set_applied(2);
  ASSERT_EQ(log.recent_entries().size(), 1u);
  EXPECT_EQ(log.recent_entries().front().index, 3u);
  all = log.Slice(1, 4, 1 << 20);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(counting.entries_reads, 1);
  EXPECT_EQ((*all)[2].index, 3u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();
}

// A leader may commit and apply entries before its own write of them is durable (its followers made the majority).
// Those entries never join the recent entries: the ones that do are the unapplied rest, still contiguous.
TEST(RaftLog, EntriesAppliedBeforeTheyAreDurableSkipTheRecentEntries) {
  MemoryLog durable;
  CountingLog counting(&durable);
  RaftLog log(&counting, 0, 0);
  log.Append(Ents(1, {1, 1, 1, 1, 1}));
  log.CommitTo(3);
  log.set_applied(3);
  Persist(durable, log);
  ASSERT_EQ(log.recent_entries().size(), 2u);
  EXPECT_EQ(log.recent_entries().front().index, 4u);
  EXPECT_EQ(log.recent_bytes(), 2u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();

  log.Append(Ents(6, {1, 1}));
  Persist(durable, log);
  ASSERT_EQ(log.recent_entries().size(), 4u);
  EXPECT_EQ(log.recent_entries().back().index, 7u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();
  counting.entries_reads = 0;  // CheckRecent reads the durable log to compare
  auto slice = log.Slice(4, 8, 1 << 20);
  ASSERT_TRUE(slice.ok());
  ASSERT_EQ(slice->size(), 4u);
  EXPECT_EQ(counting.entries_reads, 0) << "4..7 come from memory";

  // Everything applied, then an entry applied before it is durable: nothing stays in memory.
  log.CommitTo(7);
  log.set_applied(7);
  log.Append(Ents(8, {1}));
  log.CommitTo(8);
  log.set_applied(8);
  Persist(durable, log);
  EXPECT_TRUE(log.recent_entries().empty());
  EXPECT_EQ(log.recent_bytes(), 0u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();
}

TEST(RaftLog, ReplacedEntriesLeaveTheRecentEntries) {
  MemoryLog durable;
  RaftLog log(&durable, 0, 0);
  log.Append(Ents(1, {1, 1, 1, 1}));
  Persist(durable, log);
  log.CommitTo(1);
  log.set_applied(1);
  ASSERT_EQ(log.recent_entries().size(), 3u);

  // A new leader replaces 3..4: the durable 3..4 are stale, and so are their copies in memory.
  EXPECT_EQ(*log.MaybeAppend(2, Ents(3, {2})), 3u);
  ASSERT_EQ(log.recent_entries().size(), 1u);
  EXPECT_EQ(log.recent_entries().back().index, 2u);
  EXPECT_EQ(log.recent_bytes(), 1u);
  EXPECT_EQ(*log.TermAt(3), 2u);
  EXPECT_FALSE(log.TermAt(4).ok());
  auto slice = log.Slice(2, 10, 1 << 20);
  ASSERT_TRUE(slice.ok());
  ASSERT_EQ(slice->size(), 2u);
  EXPECT_EQ((*slice)[1].term, 2u);

  Persist(durable, log);
  ASSERT_EQ(log.recent_entries().size(), 2u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();

  // A snapshot replaces the whole log.
  log.Restore(SnapshotMeta{.index = 10, .term = 3, .next_offset = 10, .conf = {{1}, {}, {}}}, "");
  EXPECT_TRUE(log.recent_entries().empty());
  EXPECT_EQ(log.recent_bytes(), 0u);
}

TEST(RaftLog, RecentEntriesKeepToTheirByteLimitOldestFirst) {
  MemoryLog durable;
  CountingLog counting(&durable);
  RaftLog log(&counting, 0, 0, /*max_recent_bytes=*/25);
  std::vector<Entry> entries = Ents(1, {1, 1, 1, 1});
  for (Entry& e : entries) e.data = std::string(10, static_cast<char>('a' + e.index));
  log.Append(std::move(entries));
  Persist(durable, log);
  ASSERT_EQ(log.recent_entries().size(), 2u) << "40 bytes against a limit of 25: the oldest two went";
  EXPECT_EQ(log.recent_entries().front().index, 3u);
  EXPECT_EQ(log.recent_bytes(), 20u);

  auto all = log.Slice(1, 5, 1 << 20);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ(counting.entries_reads, 1) << "1..2 from the durable log, 3..4 from memory";
  EXPECT_EQ((*all)[0].data, std::string(10, 'b'));
  EXPECT_EQ((*all)[3].data, std::string(10, 'e'));
  // The byte limit of a slice still holds across the stretches.
  all = log.Slice(1, 5, 25);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  all = log.Slice(3, 5, 15);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();
}

TEST(RaftLog, CheckRecentCatchesADurableLogChangedBehindTheLogsBack) {
  MemoryLog durable;
  RaftLog log(&durable, 0, 0);
  log.Append(Ents(1, {1, 1, 1}));
  Persist(durable, log);
  ASSERT_TRUE(log.CheckRecent().ok()) << log.CheckRecent();
  std::vector<Entry> changed = Ents(3, {1});
  changed[0].data = "y";
  ASSERT_TRUE(durable.Append(std::move(changed)).ok());
  const absl::Status s = log.CheckRecent();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("differs from the durable"), std::string::npos) << s;
}

TEST(EntryData, CopiesShareTheBytesAndReleaseMovesOutOnlyWhenAlone) {
  EntryData a(std::string(1000, 'x'));
  EntryData b = a;
  EXPECT_EQ(a.data(), b.data());
  std::string copied = std::move(b).Release();
  EXPECT_NE(copied.data(), a.data()) << "a still holds the bytes: Release copies";
  EXPECT_EQ(a, copied);
  const char* bytes = a.data();
  std::string moved = std::move(a).Release();
  EXPECT_EQ(moved.data(), bytes) << "the only holder: Release moves";
  EXPECT_EQ(moved, std::string(1000, 'x'));
  EXPECT_TRUE(EntryData().empty());
  EXPECT_TRUE(EntryData("").empty());
  EXPECT_EQ(EntryData(), "");
  EXPECT_EQ(std::move(EntryData()).Release(), "");
}

}  // namespace
}  // namespace brook::raft
