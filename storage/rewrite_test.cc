// Store::RewriteEntries (key compaction's write): the data changes, nothing else does (bounds, offsets, index
// keys, timestamps, cum_bytes), and an entry that retention dropped or a truncation replaced since it was read is
// skipped, not resurrected or overwritten.
#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace brook::storage {
namespace {

using testing::MakeEntries;
using testing::ScopedDir;

int64_t Timestamp(const raft::Entry& e) { return static_cast<int64_t>(e.index) * 10; }

class RewriteTest : public ::testing::Test {
 protected:
  RewriteTest() : dir_("rewrite-test") {
    options_.entry_timestamp_ms = Timestamp;
    options_.index_interval_bytes = 1;  // an offset key per entry
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto s = Store::Open(dir_.path(), options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  // `count` entries of 4 records each and 200 bytes of data.
  void Append(raft::Term term, size_t count) {
    const LogBounds b = store_->Bounds(kGroup);
    GroupWrite w{.group = kGroup};
    w.entries = MakeEntries(kGroup, b.last_index + 1, term, count, b.end_offset, 4, 200);
    ASSERT_TRUE(store_->Write({&w, 1}).ok());
  }
  raft::Entry Read(raft::Index i) {
    auto r = store_->Entries(kGroup, i, i + 1, UINT64_MAX);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && !r->empty() ? r->front() : raft::Entry{};
  }
  // Entry i with shorter data, as compaction would hand it over.
  raft::Entry Smaller(raft::Index i) {
    raft::Entry e = Read(i);
    e.data = "compacted-" + std::to_string(i);
    return e;
  }

  static constexpr raft::GroupId kGroup = 7;
  ScopedDir dir_;
  Options options_;
  std::unique_ptr<Store> store_;
};

TEST_F(RewriteTest, ReplacesTheDataAndKeepsBoundsIndexesAndTimestamps) {
  Append(1, 10);
  const LogBounds before = store_->Bounds(kGroup);
  const auto size_cut = store_->RetentionCutForSize(kGroup, 1000, before.last_index);
  ASSERT_TRUE(size_cut.ok());
  std::vector<raft::Entry> rewritten = {Smaller(2), Smaller(3), Smaller(7)};
  auto r = store_->RewriteEntries(kGroup, rewritten);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rewritten, 3u);
  EXPECT_EQ(r->skipped, 0u);
  EXPECT_GT(r->bytes_before, r->bytes_after);
  for (int reopen = 0; reopen < 2; ++reopen) {
    SCOPED_TRACE(reopen ? "after reopening" : "before reopening");
    const LogBounds after = store_->Bounds(kGroup);
    EXPECT_EQ(after.first_index, before.first_index);
    EXPECT_EQ(after.last_index, before.last_index);
    EXPECT_EQ(after.end_offset, before.end_offset);
    EXPECT_EQ(Read(3).data, "compacted-3");
    EXPECT_EQ(Read(3).base_offset, 8u) << "offsets never change";
    EXPECT_EQ(Read(3).record_count, 4u);
    EXPECT_EQ(Read(4).data, MakeEntries(kGroup, 4, 1, 1, 12, 4, 200).front().data) << "others untouched";
    EXPECT_EQ(*store_->FindIndexForOffset(kGroup, 9), 3u);
    EXPECT_EQ(*store_->FindIndexForOffset(kGroup, 28), 8u);
    EXPECT_EQ(*store_->FindOffsetForTimestamp(kGroup, 30), 8u) << "the time index still points at entry 3";
    EXPECT_EQ(*store_->RetentionCutForSize(kGroup, 1000, before.last_index), *size_cut)
        << "cum_bytes counts bytes as appended";
    Reopen();
  }
  Append(1, 1);
  EXPECT_EQ(store_->Bounds(kGroup).end_offset, before.end_offset + 4) << "appends continue after a rewrite";
}

TEST_F(RewriteTest, SkipsEntriesRetentionDroppedMeanwhile) {
  Append(1, 10);
  std::vector<raft::Entry> read_earlier = {Smaller(2), Smaller(5), Smaller(6)};
  ASSERT_TRUE(store_->DropPrefix(kGroup, 5).ok());
  auto r = store_->RewriteEntries(kGroup, read_earlier);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rewritten, 1u);
  EXPECT_EQ(r->skipped, 2u);
  EXPECT_EQ(store_->FirstIndex(kGroup), 6u) << "nothing dropped comes back";
  EXPECT_EQ(Read(6).data, "compacted-6");
}

TEST_F(RewriteTest, SkipsEntriesATruncationReplacedMeanwhile) {
  Append(1, 10);
  std::vector<raft::Entry> read_earlier = {Smaller(7), Smaller(8), Smaller(9), Smaller(10)};
  // A new leader's entries replace the suffix from index 8 (same offsets, another term), and one more follows.
  GroupWrite w{.group = kGroup};
  w.entries = MakeEntries(kGroup, 8, 2, 4, Read(8).base_offset, 4, 200);
  ASSERT_TRUE(store_->Write({&w, 1}).ok());
  auto r = store_->RewriteEntries(kGroup, read_earlier);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rewritten, 1u) << "only entry 7 is still the entry that was read";
  EXPECT_EQ(Read(7).data, "compacted-7");
  for (raft::Index i = 8; i <= 10; ++i) {
    EXPECT_EQ(Read(i).term, 2u);
    EXPECT_NE(Read(i).data, "compacted-" + std::to_string(i))
        << "entry " << i << " of the new term was overwritten";
  }
}

TEST_F(RewriteTest, SkipsAnEntryWhoseOffsetsDifferAndAGroupThatIsGone) {
  Append(1, 3);
  raft::Entry wrong = Smaller(2);
  wrong.record_count = 3;
  auto r = store_->RewriteEntries(kGroup, {&wrong, 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rewritten, 0u);
  EXPECT_NE(Read(2).data, wrong.data);
  raft::Entry e = Smaller(2);
  ASSERT_TRUE(store_->DropGroup(kGroup).ok());
  r = store_->RewriteEntries(kGroup, {&e, 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->skipped, 1u);
  EXPECT_EQ(store_->LastIndex(kGroup), 0u) << "the deleted group stays deleted";
}

// Readers on other threads see each entry either as it was or as rewritten, never a failure (MVCC).
TEST_F(RewriteTest, ConcurrentReadersSeeOldOrNewDataOnly) {
  Append(1, 50);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    for (int i = 0; i < 20000 && !stop.load(); ++i) {
      auto r = store_->Entries(kGroup, 1, 51, UINT64_MAX);
      if (!r.ok() || r->size() != 50) ++bad;
    }
  });
  for (raft::Index i = 1; i <= 50; ++i) {
    raft::Entry e = Smaller(i);
    ASSERT_TRUE(store_->RewriteEntries(kGroup, {&e, 1}).ok());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace brook::storage
