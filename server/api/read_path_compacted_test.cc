// The read path over batches that key compaction rewrote: surviving records at their original offsets, tombstones
// flagged, and the removed offsets as COMPACTED ranges, so that every offset of [asked, next_offset) is accounted
// for exactly once, from any starting offset and with any limit.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/api/read_path.h"
#include "server/codec/entry_codec.h"
#include "storage/test_util.h"

namespace brook::server {
namespace {

constexpr raft::GroupId kGroup = 9;

class CompactedReadTest : public ::testing::Test {
 protected:
  CompactedReadTest() : dir_("read-compacted-test"), view_(kGroup, "state", 0, 1) {
    storage::Options options;
    options.sync = false;
    store_ = *storage::Store::Open(dir_.path(), options);
    Append(4, std::vector<uint32_t>{1, 3}, /*tombstone_at=*/1);  // offsets 0-3: 1 (a tombstone) and 3 left
    Append(2, std::vector<uint32_t>{});                          // 4-5: nothing left
    Append(3, std::nullopt);                                     // 6-8: never compacted
    Append(4, std::vector<uint32_t>{0});                         // 9-12: 9 left
    Append(2, std::vector<uint32_t>{1});                         // 13-14: 14 left
    view_.Publish(index_, offset_, 0, 1, 1);
  }

  // Appends an entry spanning `span` offsets: plain when `keep` is empty-optional, else compacted to `keep`.
  void Append(uint32_t span, std::optional<std::vector<uint32_t>> keep, int tombstone_at = -1) {
    raft::Entry e;
    e.index = ++index_;
    e.term = 1;
    e.base_offset = offset_;
    e.record_count = span;
    auto record = [&](uint32_t d) {
      v1::Record r;
      r.set_key("k" + std::to_string(offset_ + d));
      if (static_cast<int>(d) == tombstone_at) {
        r.set_tombstone(true);
      } else {
        r.set_value("v" + std::to_string(offset_ + d));
      }
      return r;
    };
    if (!keep) {
      v1::ProduceRequest req;
      for (uint32_t d = 0; d < span; ++d) *req.add_records() = record(d);
      std::string data = EncodeRecordBatch(req);
      StampAppendTime(data, 1'000);
      e.data = std::move(data);
    } else {
      internal::RecordBatch b;
      b.set_compacted(true);
      b.set_record_count(span);
      for (uint32_t d : *keep) {
        *b.add_records() = record(d);
        b.add_offset_deltas(d);
      }
      e.data = EncodeCompactedBatch(b, 1'000);
    }
    storage::GroupWrite w{.group = kGroup};
    w.entries.push_back(std::move(e));
    ASSERT_TRUE(store_->Write({&w, 1}).ok());
    offset_ += span;
  }

  v1::FetchResponse Read(uint64_t offset, uint32_t max_records = 0) {
    v1::FetchResponse out;
    auto s = ReadRecords(*store_, view_, ReadOptions{offset, max_records, 0, false}, 1, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static std::string Describe(const v1::FetchResponse& r) {
    std::string out;
    for (const auto& rec : r.records()) {
      out += std::to_string(rec.offset()) + (rec.tombstone() ? "x " : " ");
    }
    for (const auto& g : r.compacted()) {
      EXPECT_EQ(g.reason(), v1::Gap::COMPACTED);
      out += "[" + std::to_string(g.start_offset()) + "," + std::to_string(g.end_offset()) + ") ";
    }
    return out + "next " + std::to_string(r.next_offset());
  }

  storage::testing::ScopedDir dir_;
  std::unique_ptr<storage::Store> store_;
  PartitionView view_;
  raft::Index index_ = 0;
  uint64_t offset_ = 0;
};

TEST_F(CompactedReadTest, SurvivorsKeepTheirOffsetsAndHolesAreCompactedRanges) {
  const auto all = Read(0);
  EXPECT_EQ(Describe(all), "1x 3 6 7 8 9 14 [0,1) [2,3) [4,6) [10,14) next 15");
  ASSERT_EQ(all.records_size(), 7);
  EXPECT_TRUE(all.records(0).tombstone());
  EXPECT_EQ(all.records(0).value(), "") << "a tombstone has no value";
  EXPECT_EQ(all.records(0).key(), "k1");
  EXPECT_EQ(all.records(1).value(), "v3");
  EXPECT_EQ(all.records(6).value(), "v14");
  EXPECT_FALSE(all.has_gap()) << "compacted ranges are not a trimmed log start";
  EXPECT_EQ(Describe(Read(4)), "6 7 8 9 14 [4,6) [10,14) next 15");
  EXPECT_EQ(Describe(Read(11)), "14 [11,14) next 15") << "from inside a hole";
  // A hole before a record that does not fit is still reported: the reader moves past it at once.
  EXPECT_EQ(Describe(Read(0, 1)), "1x [0,1) [2,3) next 3");
  EXPECT_EQ(Describe(Read(2, 1)), "3 [2,3) [4,6) next 6");
  EXPECT_EQ(Describe(Read(4, 1)), "6 [4,6) next 7");
}

TEST_F(CompactedReadTest, AnAnswerMayHoldOnlyCompactedRanges) {
  view_.Publish(2, 6, 0, 1, 1);  // applied up to the entry whose records are all gone
  const auto r = Read(4);
  EXPECT_EQ(Describe(r), "[4,6) next 6");
  EXPECT_TRUE(HasData(r)) << "a long-poll must not wait on an answer that moves the reader on";
}

// From every offset and with every small limit, [asked, next_offset) is covered exactly once by records and
// ranges, and reading on from next_offset reaches the end with the same records as one read from 0.
TEST_F(CompactedReadTest, EveryOffsetIsARecordOrInARangeExactlyOnce) {
  for (uint64_t from = 0; from < offset_; ++from) {
    for (uint32_t limit = 1; limit <= 3; ++limit) {
      std::map<uint64_t, int> seen;
      std::vector<uint64_t> records;
      uint64_t at = from;
      for (int reads = 0; at < offset_ && reads < 50; ++reads) {
        const auto r = Read(at, limit);
        ASSERT_GT(r.next_offset(), at) << "no progress from " << at;
        for (const auto& rec : r.records()) {
          ++seen[rec.offset()];
          records.push_back(rec.offset());
        }
        for (const auto& g : r.compacted()) {
          for (uint64_t o = g.start_offset(); o < g.end_offset(); ++o) ++seen[o];
        }
        for (uint64_t o = at; o < r.next_offset(); ++o) {
          ASSERT_EQ(seen[o], 1) << "offset " << o << " reading from " << from << " by " << limit;
        }
        at = r.next_offset();
      }
      ASSERT_EQ(at, offset_);
      std::vector<uint64_t> want;
      for (uint64_t o : {1, 3, 6, 7, 8, 9, 14}) {
        if (o >= from) want.push_back(o);
      }
      EXPECT_EQ(records, want) << "from " << from << " by " << limit;
    }
  }
}

TEST_F(CompactedReadTest, ACompactedBatchWhoseDeltasDoNotFitIsDataLoss) {
  internal::RecordBatch b;
  b.set_compacted(true);
  b.set_record_count(2);
  b.add_records()->set_key("k");
  b.add_offset_deltas(2);  // past its span
  raft::Entry e;
  e.index = ++index_;
  e.term = 1;
  e.base_offset = offset_;
  e.record_count = 2;
  e.data = EncodeCompactedBatch(b, 1'000);
  storage::GroupWrite w{.group = kGroup};
  w.entries.push_back(std::move(e));
  ASSERT_TRUE(store_->Write({&w, 1}).ok());
  view_.Publish(index_, offset_ + 2, 0, 1, 1);
  v1::FetchResponse out;
  auto s = ReadRecords(*store_, view_, ReadOptions{offset_, 0, 0, false}, 1, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
}

}  // namespace
}  // namespace brook::server
