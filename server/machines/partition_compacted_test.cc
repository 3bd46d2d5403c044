// The partition machine applying batches that key compaction rewrote (a follower catching up from a compacted
// leader log): offsets by span, the original body CRC kept for idempotent retries, damaged compacted data refused.
#include <string>

#include "gtest/gtest.h"
#include "server/machines/compaction.h"
#include "server/machines/partition_machine.h"
#include "server/machines/partition_machine_testing.h"

namespace brook::server {
namespace {

using namespace testing;  // NOLINT: the test support of this folder

// `entry` as compaction leaves it when it keeps only the records at `keep` (offset deltas).
raft::Entry Compacted(const raft::Entry& entry, const std::vector<uint32_t>& keep) {
  auto batch = DecodeRecordBatch(entry.data);
  EXPECT_TRUE(batch.ok());
  internal::RecordBatch out;
  out.set_producer_id(batch->producer_id());
  out.set_sequence(batch->sequence());
  out.set_producer_epoch(batch->producer_epoch());
  out.set_compacted(true);
  out.set_record_count(entry.record_count);
  out.set_original_body_crc(EntryBodyCrc(entry.data));
  for (uint32_t d : keep) {
    *out.add_records() = batch->records(static_cast<int>(d));
    out.add_offset_deltas(d);
  }
  raft::Entry e = entry;
  e.data = EncodeCompactedBatch(out, EntryAppendTime(entry.data));
  return e;
}

TEST(CompactedBatch, AFollowerAppliesItsSpanAndAnswersARetryOfTheOriginalAsADuplicate) {
  LogBuilder log;
  const raft::Entry first = log.Produce(7, 0, 4);
  const raft::Entry second = log.Produce(7, 4, 2);
  Replica leader, follower;
  leader.ApplyAll({first, second});
  follower.ApplyAll({Compacted(first, {1, 3}), Compacted(second, {})});
  EXPECT_EQ(follower.machine.end_offset(), 6u) << "offsets never change: a compacted entry spans its offsets";
  ExpectSameState(leader.machine, follower.machine, "the follower that applied the compacted log");

  // A retry of the first batch as the producer sent it: still a duplicate with its original offsets.
  auto d = follower.machine.CheckProduce(Key(7, 0, 4));
  EXPECT_EQ(d.verdict, Verdict::kDuplicate);
  EXPECT_EQ(d.original.base_offset(), 0u);
  EXPECT_EQ(follower.machine.CheckProduce(Key(7, 4, 2)).verdict, Verdict::kDuplicate);
  EXPECT_EQ(follower.machine.CheckProduce(Key(7, 0, 4, 0, /*other_records=*/true)).verdict,
            Verdict::kSequenceReused)
      << "other records under the same sequence are still told apart";
}

TEST(CompactedBatch, ThePlannerKeepsTheOriginalCrcThroughSuccessivePasses) {
  LogBuilder log;
  const raft::Entry first = log.Produce(9, 0, 3);
  CompactionRules rules = RulesFor(0, 0, 1'000'000, 1 << 20);
  KeyMap map(rules);
  // Keys k0..k2 of the batch, each replaced by a later record: every record goes, in two passes.
  LogBuilder later;
  later.next_index = 2;
  later.next_offset = 3;
  const raft::Entry replacing = later.Produce(0, 0, 2);  // keys k0, k1
  ASSERT_TRUE(map.Add(first).ok());
  ASSERT_TRUE(map.Add(replacing).ok());
  auto plan = PlanEntry(first, map, rules);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(plan->changed);
  EXPECT_EQ(plan->survivors, 1u);
  raft::Entry once = first;
  once.data = plan->data;
  auto again = PlanEntry(once, map, rules);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed) << "nothing more to remove with the same map";
  Replica r;
  r.ApplyAll({once});
  EXPECT_EQ(r.machine.CheckProduce(Key(9, 0, 3)).verdict, Verdict::kDuplicate);
}

TEST(CompactedBatch, DamagedCompactedDataIsDataLossAndChangesNothing) {
  LogBuilder log;
  const raft::Entry entry = Compacted(log.Produce(0, 0, 3), {0, 2});
  for (size_t i = kEntryHeaderBytes; i < entry.data.size(); i += 3) {
    raft::Entry bad = entry;
    std::string data(entry.data.view());
    data[i] ^= 0x10;
    bad.data = std::move(data);
    Replica r;
    auto applied = r.Apply(bad);
    ASSERT_FALSE(applied.ok()) << "a flipped bit at byte " << i << " went unnoticed";
    EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(r.machine.end_offset(), 0u);
  }
}

// Compacted batches whose CRC is right but whose shape is not (a bug, not a flipped bit) are refused too.
TEST(CompactedBatch, ABatchWhoseDeltasDoNotFitItsSpanIsDataLoss) {
  LogBuilder log;
  const raft::Entry entry = log.Produce(0, 0, 3);
  auto rewrite = [&](auto change) {
    auto batch = DecodeRecordBatch(Compacted(entry, {0, 2}).data);
    change(*batch);
    raft::Entry e = entry;
    e.data = EncodeCompactedBatch(*batch, EntryAppendTime(entry.data));
    return e;
  };
  const std::vector<std::pair<std::string, raft::Entry>> cases = {
      {"delta past the span", rewrite([](internal::RecordBatch& b) { b.set_offset_deltas(1, 3); })},
      {"deltas not increasing", rewrite([](internal::RecordBatch& b) { b.set_offset_deltas(1, 0); })},
      {"a delta missing", rewrite([](internal::RecordBatch& b) { b.mutable_offset_deltas()->RemoveLast(); })},
      {"span not the entry's", rewrite([](internal::RecordBatch& b) { b.set_record_count(4); })},
      {"marked compressed", rewrite([](internal::RecordBatch& b) { b.set_compression(v1::COMPRESSION_LZ4); })},
  };
  for (const auto& [what, e] : cases) {
    Replica r;
    auto applied = r.Apply(e);
    ASSERT_FALSE(applied.ok()) << what;
    EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << what;
  }
}

}  // namespace
}  // namespace brook::server
