// The partition state machine: dense offsets, the idempotent-producer table (CheckProduce against applied and
// in-flight batches), consumer-group offsets and persistence through StateDelta. Snapshots are in
// partition_snapshot_test.cc, the seeded property test of CheckProduce in partition_property_test.cc, producer
// epochs and the producer table in producer_table_test.cc.
#include "server/machines/partition_machine.h"

#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"
#include "server/machines/partition_machine_testing.h"

namespace brook::server {
namespace {

using namespace testing;  // NOLINT: the test support of this folder

// ---- Offsets ---------------------------------------------------------------------------------------------------

TEST(PartitionOffsets, RecordBatchesTakeDenseOffsets) {
  LogBuilder log;
  Replica r;
  uint64_t want_base = 0;
  for (uint32_t count : {3u, 1u, 5u, 2u}) {
    auto e = log.Produce(0, 0, count);
    auto applied = r.Apply(e);
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_TRUE(applied->records);
    EXPECT_EQ(applied->base_offset, want_base) << "batch of " << count << " should start where the last ended";
    EXPECT_EQ(applied->record_count, count);
    EXPECT_EQ(applied->append_time_ms, log.now_ms - 1) << "Applied carries the leader's stamped append time";
    want_base += count;
    EXPECT_EQ(r.machine.end_offset(), want_base);
    EXPECT_EQ(r.machine.applied_index(), e.index);
  }
  EXPECT_EQ(r.machine.end_offset(), 11u);
  EXPECT_EQ(r.machine.last_append_time_ms(), log.now_ms - 1);
}

TEST(PartitionOffsets, EntryWhoseBaseOffsetIsNotTheEndOffsetIsAnError) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(0, 0, 4)});
  auto e = log.Produce(0, 0, 2);
  e.base_offset = 5;  // one past the end: a hole
  auto applied = r.Apply(e);
  EXPECT_FALSE(applied.ok()) << "an entry that leaves a hole in the offsets must not apply";
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInternal) << applied.status();
  EXPECT_EQ(r.machine.end_offset(), 4u) << "a rejected entry must not move the end offset";
  EXPECT_EQ(r.machine.applied_index(), 1u);
  e.base_offset = 3;  // overlapping the previous batch
  EXPECT_FALSE(r.Apply(e).ok()) << "an entry overlapping applied offsets must not apply";
}

TEST(PartitionOffsets, NoopEntriesChangeNothing) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(0, 0, 2)});
  raft::Entry noop;
  noop.index = 2;
  noop.type = raft::EntryType::kNoop;
  noop.base_offset = 2;
  StateDelta delta;
  auto applied = r.machine.Apply(noop, &delta);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(applied->records);
  EXPECT_TRUE(delta.empty());
  EXPECT_EQ(r.machine.end_offset(), 2u);
}

TEST(PartitionOffsets, CorruptEntryDataIsDataLossAndChangesNothing) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(7, 0, 1)});
  const auto good = log.Produce(7, 1, 3);
  for (size_t i = kEntryHeaderBytes; i < good.data.size(); ++i) {
    raft::Entry bad = good;
    std::string data(good.data.view());
    data[i] = static_cast<char>(data[i] ^ 0x01);
    bad.data = std::move(data);
    auto applied = r.Apply(bad);
    ASSERT_FALSE(applied.ok()) << "flipping body byte " << i << " went unnoticed";
    EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << "byte " << i << ": " << applied.status();
    ASSERT_EQ(r.machine.end_offset(), 1u) << "corrupt entry moved the end offset (byte " << i << ")";
  }
  EXPECT_EQ(r.machine.producers().at(7).batches_size(), 1) << "corrupt entries must not reach the producer table";
  ASSERT_TRUE(r.Apply(good).ok()) << "the intact entry still applies";
}

TEST(PartitionOffsets, EntryWhoseRecordCountDisagreesWithItsBatchIsDataLoss) {
  LogBuilder log;
  Replica r;
  auto e = log.Produce(0, 0, 3);
  e.record_count = 2;
  auto applied = r.Apply(e);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << applied.status();
}

TEST(PartitionOffsets, CompressedBatchTakesItsRecordCountWithoutBeingDecompressed) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(9, 0, 2)});
  // Bytes that are no Zstandard frame: the count was validated at produce time, applying must not decompress.
  auto e = log.ProduceCompressed(9, 2, 5, std::string("not a zstd frame"));
  auto applied = r.Apply(e);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->base_offset, 2u);
  EXPECT_EQ(applied->record_count, 5u);
  EXPECT_EQ(r.machine.end_offset(), 7u);
  const auto& batches = r.machine.producers().at(9).batches();
  ASSERT_EQ(batches.size(), 2);
  EXPECT_EQ(batches[1].first_sequence(), 2u);
  EXPECT_EQ(batches[1].record_count(), 5u) << "the producer table counts a compressed batch's records";
  const PartitionMachine::ProduceKey retry{9, 0, 2, 5, EntryBodyCrc(e.data)};  // the same compressed bytes
  EXPECT_EQ(r.machine.CheckProduce(retry).verdict, Verdict::kDuplicate) << "a retry of it is a duplicate";
  EXPECT_EQ(r.machine.CheckProduce(Key(9, 7, 1)).verdict, Verdict::kNew);
}

TEST(PartitionOffsets, CompressedEntryWhoseRecordCountDisagreesWithItsBatchIsDataLoss) {
  LogBuilder log;
  Replica r;
  auto e = log.ProduceCompressed(0, 0, 4);
  e.record_count = 3;
  auto applied = r.Apply(e);
  ASSERT_FALSE(applied.ok()) << "an entry whose Raft count is not its compressed batch's count must not apply";
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << applied.status();
  EXPECT_EQ(r.machine.end_offset(), 0u);
}

// ---- Idempotence: CheckProduce -------------------------------------------------------------------------------

TEST(Idempotence, FreshProducerStartsAtSequenceZeroAndAnythingElseIsUnknown) {
  PartitionMachine m;
  EXPECT_EQ(m.CheckProduce(Key(42, 0, 3)).verdict, Verdict::kNew) << "a new producer starts at sequence 0";
  for (uint64_t seq : {uint64_t{1}, uint64_t{17}, uint64_t{1} << 40}) {
    auto d = m.CheckProduce(Key(42, seq, 3));
    EXPECT_EQ(d.verdict, Verdict::kUnknownProducer)
        << "an unknown producer at sequence " << seq << " may have lost batches the partition cannot check, got "
        << VerdictName(d.verdict);
  }
}

TEST(Idempotence, NonIdempotentProduceIsAlwaysNew) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(0, 0, 2), log.Produce(0, 0, 2)});
  EXPECT_TRUE(r.machine.producers().empty()) << "producer id 0 must not enter the table";
  EXPECT_EQ(r.machine.CheckProduce(Key(0, 0, 2)).verdict, Verdict::kNew);
  EXPECT_EQ(r.machine.CheckProduce(Key(0, 99, 2)).verdict, Verdict::kNew);
}

TEST(Idempotence, NextSequenceIsNewAndSkipAheadIsGap) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 10, 3)});  // sequences 10..12
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 13, 1)).verdict, Verdict::kNew) << "13 follows 10..12";
  auto d = r.machine.CheckProduce(Key(5, 14, 1));
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap) << "14 skips 13, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 13u) << "the gap names the sequence the partition expects";
}

TEST(Idempotence, RetryOfAnyOfTheLastWindowBatchesIsDuplicateWithOriginalOffsets) {
  constexpr uint32_t kBatches = Limits::kIdempotenceWindowBatches + 4;
  LogBuilder log;
  Replica r;
  std::vector<raft::Entry> written;
  for (uint32_t i = 0; i < kBatches; ++i) {
    written.push_back(log.Produce(9, 2 * i, 2, /*term=*/3));
    // Another producer interleaves so that offsets and indexes differ from sequences.
    written.push_back(log.Produce(10, i, 1, 3));
  }
  r.ApplyAll(written);
  for (uint32_t i = 0; i < kBatches; ++i) {
    const raft::Entry& e = written[2 * i];
    auto d = r.machine.CheckProduce(Key(9, 2 * i, 2));
    if (i + Limits::kIdempotenceWindowBatches >= kBatches) {
      ASSERT_EQ(d.verdict, Verdict::kDuplicate)
          << "batch " << i << " is within the last " << Limits::kIdempotenceWindowBatches << ", got "
          << VerdictName(d.verdict);
      EXPECT_EQ(d.original.base_offset(), e.base_offset) << "batch " << i << " must be answered with its offsets";
      EXPECT_EQ(d.original.record_count(), 2u);
      EXPECT_EQ(d.original.first_sequence(), 2 * i);
      EXPECT_EQ(d.original.raft_index(), e.index);
      EXPECT_EQ(d.original.term(), 3u);
      EXPECT_EQ(d.original.append_time_ms(), EntryAppendTime(e.data));
    } else {
      EXPECT_EQ(d.verdict, Verdict::kSequenceGap)
          << "batch " << i << " fell out of the window; a retry cannot be recognised, got "
          << VerdictName(d.verdict);
      EXPECT_EQ(d.expected_sequence, 2 * kBatches);
    }
  }
}

TEST(Idempotence, RetryWithADifferentRecordCountIsNotADuplicate) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 3), log.Produce(5, 3, 3)});
  auto d = r.machine.CheckProduce(Key(5, 0, 2));
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap)
      << "same first sequence, different batch: got " << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 6u);
}

TEST(Idempotence, WindowHoldsAtMostTheLimitOfBatchesOldestDropped) {
  LogBuilder log;
  Replica r;
  for (uint32_t i = 0; i < 3 * Limits::kIdempotenceWindowBatches; ++i) {
    r.ApplyAll({log.Produce(1, i, 1)});
    const auto& p = r.machine.producers().at(1);
    ASSERT_LE(static_cast<uint32_t>(p.batches_size()), Limits::kIdempotenceWindowBatches) << "after batch " << i;
    ASSERT_EQ(p.batches(p.batches_size() - 1).first_sequence(), i) << "newest batch is last";
  }
  const auto& p = r.machine.producers().at(1);
  EXPECT_EQ(p.batches(0).first_sequence(), 2 * Limits::kIdempotenceWindowBatches) << "oldest kept batch";
  internal::ProducerState persisted;
  ASSERT_TRUE(persisted.ParseFromString(r.stored.at(PartitionMachine::ProducerKey(1))));
  EXPECT_EQ(static_cast<uint32_t>(persisted.batches_size()), Limits::kIdempotenceWindowBatches)
      << "the persisted window is bounded too";
}

// ---- Idempotence: batches in flight
// -----------------------------------------------------------------------------

TEST(Idempotence, RetryOfAProposedBatchIsInFlightUntilApplied) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  auto proposed = log.Produce(5, 2, 3);
  r.machine.AddInFlight(Key(5, 2, 3), proposed.index);

  auto d = r.machine.CheckProduce(Key(5, 2, 3));
  ASSERT_EQ(d.verdict, Verdict::kInFlight)
      << "a retry of a proposed batch waits for it, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.inflight_index, proposed.index);
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 5, 1)).verdict, Verdict::kNew)
      << "the next sequence follows the in-flight";
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 0, 2)).verdict, Verdict::kDuplicate) << "applied batches still answer";

  ASSERT_TRUE(r.Apply(proposed).ok());
  d = r.machine.CheckProduce(Key(5, 2, 3));
  EXPECT_EQ(d.verdict, Verdict::kDuplicate)
      << "once applied, in-flight bookkeeping is dropped, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.original.base_offset(), proposed.base_offset);
}

TEST(Idempotence, InFlightIsDroppedWhenAnotherEntryAppliesAtItsIndex) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  // Proposed at index 2, then superseded: a new leader's entry 2 carries someone else's batch.
  r.machine.AddInFlight(Key(5, 2, 1), 2);
  ASSERT_TRUE(r.Apply(log.Produce(6, 0, 1)).ok());
  auto d = r.machine.CheckProduce(Key(5, 2, 1));
  EXPECT_EQ(d.verdict, Verdict::kNew) << "the lost proposal may be sent again, got " << VerdictName(d.verdict);
}

TEST(Idempotence, ClearInFlightForgetsProposals) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  r.machine.AddInFlight(Key(5, 2, 2), 2);
  r.machine.AddInFlight(Key(5, 4, 2), 3);
  r.machine.ClearInFlight();
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 2, 2)).verdict, Verdict::kNew)
      << "after losing leadership the applied table alone decides";
  auto d = r.machine.CheckProduce(Key(5, 4, 2));
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap) << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 2u);
}

TEST(Idempotence, FreshProducerWithOnlyInFlightBatchesIsKnown) {
  PartitionMachine m;
  m.AddInFlight(Key(8, 100, 5), 1);
  EXPECT_EQ(m.CheckProduce(Key(8, 100, 5)).verdict, Verdict::kInFlight);
  EXPECT_EQ(m.CheckProduce(Key(8, 105, 1)).verdict, Verdict::kNew);
  auto d = m.CheckProduce(Key(8, 50, 1));
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap) << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 105u);
}

// ---- Checksums: a sequence reused for other records
// --------------------------------------------------------------

TEST(Idempotence, SameSequenceWithOtherRecordsIsAReuseNotADuplicate) {
  LogBuilder log;
  Replica r;
  auto first = log.Produce(5, 0, 2);
  r.ApplyAll({first, log.Produce(5, 2, 1)});
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 0, 2)).verdict, Verdict::kDuplicate) << "a true retry";
  auto d = r.machine.CheckProduce(Key(5, 0, 2, 0, /*other_records=*/true));
  ASSERT_EQ(d.verdict, Verdict::kSequenceReused)
      << "answering 'duplicate' would acknowledge records that were never written, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.original.base_offset(), first.base_offset);
}

TEST(Idempotence, SameSequenceWithOtherRecordsWhileInFlightIsAReuse) {
  LogBuilder log;
  Replica r;
  auto proposed = log.Produce(5, 0, 2);
  r.machine.AddInFlight(Key(5, 0, 2), proposed.index);
  EXPECT_EQ(r.machine.CheckProduce(Key(5, 0, 2)).verdict, Verdict::kInFlight);
  auto d = r.machine.CheckProduce(Key(5, 0, 2, 0, /*other_records=*/true));
  EXPECT_EQ(d.verdict, Verdict::kSequenceReused) << VerdictName(d.verdict);
  EXPECT_EQ(d.original.raft_index(), proposed.index);
}

TEST(Idempotence, BatchesRememberedWithoutAChecksumMatchAnyRetry) {
  // Producer state persisted before checksums were kept: a retry is a duplicate, as it was then.
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  internal::ProducerState old = r.machine.producers().at(5);
  old.mutable_batches(0)->clear_body_crc();
  r.stored[PartitionMachine::ProducerKey(5)] = old.SerializeAsString();
  PartitionMachine reloaded = r.Reloaded();
  EXPECT_EQ(reloaded.CheckProduce(Key(5, 0, 2, 0, /*other_records=*/true)).verdict, Verdict::kDuplicate);
}

// ---- Epochs
// ------------------------------------------------------------------------------------------------------

TEST(PartitionPersistence, StateSurvivesReloadOfThePersistedDelta) {
  LogBuilder log;
  Replica r;
  for (uint64_t i = 0; i < 20; ++i) r.ApplyAll({log.Produce(1 + i % 3, i / 3 * 2, 2)});
  r.ApplyAll({log.Commit("billing", 7, "cursor-a"), log.Commit("audit", 3)});
  PartitionMachine reloaded = r.Reloaded();
  ExpectSameState(r.machine, reloaded, "reloaded");
  EXPECT_EQ(reloaded.applied_index(), r.machine.applied_index());
  for (uint64_t id = 1; id <= 3; ++id) {
    for (uint64_t seq = 0; seq < 16; ++seq) {
      auto a = r.machine.CheckProduce(Key(id, seq, 2));
      auto b = reloaded.CheckProduce(Key(id, seq, 2));
      EXPECT_EQ(a.verdict, b.verdict) << "producer " << id << " seq " << seq;
      EXPECT_EQ(a.original.base_offset(), b.original.base_offset()) << "producer " << id << " seq " << seq;
    }
  }
  // The reloaded machine carries on where the original stopped.
  auto next = log.Produce(1, 14, 1);
  StateDelta delta;
  auto applied = reloaded.Apply(next, &delta);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->base_offset, 40u);
}

TEST(PartitionPersistence, CorruptPersistedProducerStateIsDataLoss) {
  PartitionMachine m;
  auto s = m.Load({{PartitionMachine::ProducerKey(3), std::string("\xff\xff\xff", 3)}}, {1, 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST(GroupOffsets, CommitsAreStoredPerGroupAndTakeNoOffsets) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(0, 0, 5)});
  auto first = log.Commit("billing", 3, "m1");
  auto applied = r.Apply(first);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(applied->records) << "an offset commit carries no records";
  r.ApplyAll({log.Commit("audit", 1), log.Commit("billing", 5, "m2")});

  EXPECT_EQ(r.machine.end_offset(), 5u) << "offset commits must not take record offsets";
  ASSERT_EQ(r.machine.groups().size(), 2u);
  EXPECT_EQ(r.machine.groups().at("billing").offset(), 5u) << "the latest commit of a group wins";
  EXPECT_EQ(r.machine.groups().at("billing").metadata(), "m2");
  EXPECT_EQ(r.machine.groups().at("audit").offset(), 1u) << "groups do not overwrite each other";
  EXPECT_EQ(r.machine.groups().at("audit").commit_time_ms(), log.now_ms - 2)
      << "the commit time is the entry's append time";
  internal::GroupOffset persisted;
  ASSERT_TRUE(persisted.ParseFromString(r.stored.at(PartitionMachine::GroupKey("billing"))));
  EXPECT_EQ(persisted.offset(), 5u);
}

// A leader's history: three producers with batches of 1 or 2 records, two commits of one group; 12 entries.

}  // namespace
}  // namespace brook::server
