// The partition state machine: dense offsets, the idempotent-producer table (CheckProduce against applied and
// in-flight batches), consumer-group offsets, persistence through StateDelta, and snapshots. Ends with a seeded
// property test of CheckProduce against a deliberately naive model that remembers every batch ever written.
#include "server/machines/partition_machine.h"

#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"

namespace brook::server {

const char* VerdictName(PartitionMachine::Verdict v);
// So that gtest prints verdicts by name (found by argument-dependent lookup, hence outside the anonymous
// namespace).
void PrintTo(PartitionMachine::Verdict v, std::ostream* os) { *os << VerdictName(v); }

namespace {
using Verdict = PartitionMachine::Verdict;
}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kNew:
      return "kNew";
    case Verdict::kDuplicate:
      return "kDuplicate";
    case Verdict::kInFlight:
      return "kInFlight";
    case Verdict::kSequenceGap:
      return "kSequenceGap";
  }
  return "?";
}

namespace {

// The partition's Raft log as a leader would build it: indexes from 1, dense offsets, append times that advance
// by one ms per entry unless the test pins them.
class LogBuilder {
 public:
  raft::Entry Produce(uint64_t producer_id, uint64_t sequence, uint32_t count, raft::Term term = 1) {
    v1::ProduceRequest req;
    req.set_topic("orders");
    req.set_producer_id(producer_id);
    req.set_sequence(sequence);
    for (uint32_t i = 0; i < count; ++i) {
      auto* r = req.add_records();
      r->set_key("k" + std::to_string(i));
      r->set_value("value-" + std::to_string(next_offset + i));
    }
    raft::Entry e = Next(EncodeRecordBatch(req), count, term);
    return e;
  }

  raft::Entry Commit(const std::string& group, uint64_t offset, const std::string& metadata = "") {
    internal::OffsetCommit c;
    c.set_group(group);
    c.set_offset(offset);
    c.set_metadata(metadata);
    return Next(EncodeOffsetCommit(c), 0, 1);
  }

  raft::Index next_index = 1;
  raft::Offset next_offset = 0;
  int64_t now_ms = 1'000;
  bool advance_time = true;

 private:
  raft::Entry Next(std::string data, uint32_t count, raft::Term term) {
    StampAppendTime(data, now_ms);
    if (advance_time) ++now_ms;
    raft::Entry e;
    e.index = next_index++;
    e.term = term;
    e.base_offset = next_offset;
    e.record_count = count;
    e.data = std::move(data);
    next_offset += count;
    return e;
  }
};

// One replica: the machine and the key/values it persisted, kept the way the host's storage batch applies a
// StateDelta (puts, then deletes).
struct Replica {
  absl::StatusOr<PartitionMachine::Applied> Apply(const raft::Entry& e) {
    StateDelta delta;
    auto out = machine.Apply(e, &delta);
    if (out.ok()) Persist(delta);
    return out;
  }
  void ApplyAll(const std::vector<raft::Entry>& entries) {
    for (const auto& e : entries) {
      auto applied = Apply(e);
      ASSERT_TRUE(applied.ok()) << "entry " << e.index << ": " << applied.status();
    }
  }
  void Persist(const StateDelta& delta) {
    for (const auto& [k, v] : delta.puts) stored[k] = v;
    for (const auto& k : delta.deletes) stored.erase(k);
  }
  // A restart: a fresh machine loaded from what was persisted.
  PartitionMachine Reloaded() const {
    PartitionMachine m;
    std::vector<std::pair<std::string, std::string>> state(stored.begin(), stored.end());
    auto s = m.Load(state, {machine.applied_index(), machine.end_offset()});
    EXPECT_TRUE(s.ok()) << s;
    return m;
  }

  PartitionMachine machine;
  std::map<std::string, std::string> stored;
};

// Producer tables and group offsets compared field by field (their protos hold no maps, so serialization is
// deterministic).
void ExpectSameState(const PartitionMachine& want, const PartitionMachine& got, const std::string& what) {
  ASSERT_EQ(want.producers().size(), got.producers().size()) << what << ": producer count";
  for (const auto& [id, p] : want.producers()) {
    auto it = got.producers().find(id);
    ASSERT_NE(it, got.producers().end()) << what << ": producer " << id << " missing";
    EXPECT_EQ(p.SerializeAsString(), it->second.SerializeAsString())
        << what << ": producer " << id << " differs:\nwant " << p.ShortDebugString() << "\ngot  "
        << it->second.ShortDebugString();
  }
  ASSERT_EQ(want.groups().size(), got.groups().size()) << what << ": group count";
  for (const auto& [name, g] : want.groups()) {
    auto it = got.groups().find(name);
    ASSERT_NE(it, got.groups().end()) << what << ": group '" << name << "' missing";
    EXPECT_EQ(g.SerializeAsString(), it->second.SerializeAsString())
        << what << ": group '" << name << "' differs: want " << g.ShortDebugString() << " got "
        << it->second.ShortDebugString();
  }
  EXPECT_EQ(want.last_append_time_ms(), got.last_append_time_ms()) << what;
  EXPECT_EQ(want.end_offset(), got.end_offset()) << what;
}

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
    bad.data[i] = static_cast<char>(bad.data[i] ^ 0x01);
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

// ---- Idempotence: CheckProduce -------------------------------------------------------------------------------

TEST(Idempotence, FreshProducerIsNewAtAnySequence) {
  PartitionMachine m;
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{17}, uint64_t{1} << 40}) {
    auto d = m.CheckProduce(42, seq, 3);
    EXPECT_EQ(d.verdict, Verdict::kNew)
        << "an unknown producer may start at sequence " << seq << ", got " << VerdictName(d.verdict);
  }
}

TEST(Idempotence, NonIdempotentProduceIsAlwaysNew) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(0, 0, 2), log.Produce(0, 0, 2)});
  EXPECT_TRUE(r.machine.producers().empty()) << "producer id 0 must not enter the table";
  EXPECT_EQ(r.machine.CheckProduce(0, 0, 2).verdict, Verdict::kNew);
  EXPECT_EQ(r.machine.CheckProduce(0, 99, 2).verdict, Verdict::kNew);
}

TEST(Idempotence, NextSequenceIsNewAndSkipAheadIsGap) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 10, 3)});  // sequences 10..12
  EXPECT_EQ(r.machine.CheckProduce(5, 13, 1).verdict, Verdict::kNew) << "13 follows 10..12";
  auto d = r.machine.CheckProduce(5, 14, 1);
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
    auto d = r.machine.CheckProduce(9, 2 * i, 2);
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
  auto d = r.machine.CheckProduce(5, 0, 2);
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
  r.machine.AddInFlight(5, 2, 3, proposed.index);

  auto d = r.machine.CheckProduce(5, 2, 3);
  ASSERT_EQ(d.verdict, Verdict::kInFlight)
      << "a retry of a proposed batch waits for it, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.inflight_index, proposed.index);
  EXPECT_EQ(r.machine.CheckProduce(5, 5, 1).verdict, Verdict::kNew) << "the next sequence follows the in-flight";
  EXPECT_EQ(r.machine.CheckProduce(5, 0, 2).verdict, Verdict::kDuplicate) << "applied batches still answer";

  ASSERT_TRUE(r.Apply(proposed).ok());
  d = r.machine.CheckProduce(5, 2, 3);
  EXPECT_EQ(d.verdict, Verdict::kDuplicate)
      << "once applied, in-flight bookkeeping is dropped, got " << VerdictName(d.verdict);
  EXPECT_EQ(d.original.base_offset(), proposed.base_offset);
}

TEST(Idempotence, InFlightIsDroppedWhenAnotherEntryAppliesAtItsIndex) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  // Proposed at index 2, then superseded: a new leader's entry 2 carries someone else's batch.
  r.machine.AddInFlight(5, 2, 1, 2);
  ASSERT_TRUE(r.Apply(log.Produce(6, 0, 1)).ok());
  auto d = r.machine.CheckProduce(5, 2, 1);
  EXPECT_EQ(d.verdict, Verdict::kNew) << "the lost proposal may be sent again, got " << VerdictName(d.verdict);
}

TEST(Idempotence, ClearInFlightForgetsProposals) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(5, 0, 2)});
  r.machine.AddInFlight(5, 2, 2, 2);
  r.machine.AddInFlight(5, 4, 2, 3);
  r.machine.ClearInFlight();
  EXPECT_EQ(r.machine.CheckProduce(5, 2, 2).verdict, Verdict::kNew)
      << "after losing leadership the applied table alone decides";
  auto d = r.machine.CheckProduce(5, 4, 2);
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap) << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 2u);
}

TEST(Idempotence, FreshProducerWithOnlyInFlightBatchesIsKnown) {
  PartitionMachine m;
  m.AddInFlight(8, 100, 5, 1);
  EXPECT_EQ(m.CheckProduce(8, 100, 5).verdict, Verdict::kInFlight);
  EXPECT_EQ(m.CheckProduce(8, 105, 1).verdict, Verdict::kNew);
  auto d = m.CheckProduce(8, 50, 1);
  EXPECT_EQ(d.verdict, Verdict::kSequenceGap) << VerdictName(d.verdict);
  EXPECT_EQ(d.expected_sequence, 105u);
}

// ---- The producer table's bound
// ---------------------------------------------------------------------------------

TEST(ProducerTable, IsCappedAndForgetsTheLeastRecentlyUsedProducer) {
  constexpr uint64_t kMax = Limits::kMaxProducersPerPartition;
  LogBuilder log;
  Replica r;
  for (uint64_t id = 1; id <= kMax; ++id) r.ApplyAll({log.Produce(id, 0, 1)});
  ASSERT_EQ(r.machine.producers().size(), kMax);
  r.ApplyAll({log.Produce(1, 1, 1)});  // producer 1 is now the most recently used; 2 the least
  r.ApplyAll({log.Produce(kMax + 1, 0, 1)});

  EXPECT_EQ(r.machine.producers().size(), kMax) << "the table must not grow past the limit";
  EXPECT_FALSE(r.machine.producers().contains(2)) << "producer 2 is the least recently used and must go";
  EXPECT_TRUE(r.machine.producers().contains(1)) << "producer 1 was used recently";
  EXPECT_TRUE(r.machine.producers().contains(kMax + 1)) << "the producer just written must be kept";
  EXPECT_FALSE(r.stored.contains(PartitionMachine::ProducerKey(2))) << "eviction must delete the stored state";
  EXPECT_EQ(r.machine.CheckProduce(2, 1, 1).verdict, Verdict::kNew) << "an evicted producer starts over";

  // Every replica evicts the same producer: a second replica fed the same log holds the same table.
  LogBuilder log2;
  Replica r2;
  for (uint64_t id = 1; id <= kMax; ++id) r2.ApplyAll({log2.Produce(id, 0, 1)});
  r2.ApplyAll({log2.Produce(1, 1, 1), log2.Produce(kMax + 1, 0, 1)});
  ExpectSameState(r.machine, r2.machine, "second replica");
}

TEST(ProducerTable, EvictionKeepsTheProducerJustWrittenWhenAppendTimesTie) {
  // Many producers in the same millisecond (the leader stamps max(now, last), so times tie under load). The
  // least recently used is the one written first, whatever its id.
  constexpr uint64_t kMax = Limits::kMaxProducersPerPartition;
  LogBuilder log;
  log.advance_time = false;
  Replica r;
  for (uint64_t id = 2; id <= kMax + 1; ++id) r.ApplyAll({log.Produce(id, 0, 1)});
  r.ApplyAll({log.Produce(1, 0, 1)});  // lowest id, written last
  EXPECT_EQ(r.machine.producers().size(), kMax);
  EXPECT_TRUE(r.machine.producers().contains(1))
      << "producer 1 was just written; forgetting it would let its retry be written twice";
  EXPECT_EQ(r.machine.CheckProduce(1, 0, 1).verdict, Verdict::kDuplicate);
  EXPECT_FALSE(r.machine.producers().contains(2)) << "producer 2 was written first among equal times";
}

// ---- Persistence, consumer-group offsets, snapshots
// ---------------------------------------------------------------

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
      auto a = r.machine.CheckProduce(id, seq, 2);
      auto b = reloaded.CheckProduce(id, seq, 2);
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
std::vector<raft::Entry> LeaderHistory(LogBuilder& log) {
  std::vector<raft::Entry> out;
  std::map<uint64_t, uint64_t> next_sequence;
  for (uint32_t i = 0; i < 10; ++i) {
    uint64_t id = 1 + i % 3;
    uint32_t count = 1 + i % 2;
    out.push_back(log.Produce(id, next_sequence[id], count));
    next_sequence[id] += count;
  }
  out.push_back(log.Commit("billing", 4));
  out.push_back(log.Commit("billing", 9, "later"));
  return out;
}

TEST(PartitionSnapshot, SnapshotRestoreRoundTrips) {
  LogBuilder log;
  Replica leader;
  leader.ApplyAll(LeaderHistory(log));
  Replica follower;
  follower.ApplyAll({LogBuilder().Produce(77, 0, 1)});  // stale state the snapshot must replace
  StateDelta delta;
  auto s = follower.machine.Restore(leader.machine.Snapshot(),
                                    {leader.machine.applied_index(), leader.machine.end_offset()}, &delta);
  ASSERT_TRUE(s.ok()) << s;
  follower.Persist(delta);
  ExpectSameState(leader.machine, follower.machine, "restored");
  EXPECT_EQ(follower.machine.applied_index(), leader.machine.applied_index());
  EXPECT_FALSE(follower.stored.contains(PartitionMachine::ProducerKey(77)))
      << "state the snapshot lacks must be deleted from storage";
  ExpectSameState(leader.machine, follower.Reloaded(), "restored then reloaded");

  // Both carry on identically.
  auto next = log.Produce(2, 5, 4);
  ASSERT_TRUE(leader.Apply(next).ok());
  ASSERT_TRUE(follower.Apply(next).ok());
  ExpectSameState(leader.machine, follower.machine, "after the next entry");
}

TEST(PartitionSnapshot, EntriesAtOrBelowTheStateIndexReappliedAfterRestoreMoveOnlyOffsets) {
  LogBuilder log;
  auto history = LeaderHistory(log);
  Replica leader;
  leader.ApplyAll(history);
  const std::string snapshot = leader.machine.Snapshot();

  // The follower's log starts at entry 5 (after 1..5 were trimmed); it re-applies 6..12, already in the state.
  constexpr size_t kLogStart = 5;
  Replica follower;
  StateDelta delta;
  ASSERT_TRUE(follower.machine
                  .Restore(snapshot, {history[kLogStart - 1].index, history[kLogStart - 1].end_offset()}, &delta)
                  .ok());
  follower.Persist(delta);
  EXPECT_EQ(follower.machine.end_offset(), history[kLogStart - 1].end_offset());
  for (size_t i = kLogStart; i < history.size(); ++i) {
    auto applied = follower.Apply(history[i]);
    ASSERT_TRUE(applied.ok()) << "entry " << history[i].index << ": " << applied.status();
    EXPECT_EQ(applied->base_offset, history[i].base_offset);
    EXPECT_EQ(follower.machine.end_offset(), history[i].end_offset()) << "offsets move on re-apply";
  }
  ExpectSameState(leader.machine, follower.machine, "after re-applying entries up to the state index");
  for (const auto& [id, p] : follower.machine.producers()) {
    std::set<uint64_t> seen;
    for (const auto& b : p.batches()) {
      EXPECT_TRUE(seen.insert(b.first_sequence()).second)
          << "producer " << id << " remembers batch " << b.first_sequence() << " twice";
    }
  }
  EXPECT_EQ(follower.machine.groups().at("billing").offset(), 9u)
      << "re-applying the older commit (offset 4) must not roll the group back";

  // Also after a restart in the middle of the re-apply: the state index is persisted.
  Replica restarted;
  ASSERT_TRUE(restarted.machine
                  .Restore(snapshot, {history[kLogStart - 1].index, history[kLogStart - 1].end_offset()}, &delta)
                  .ok());
  restarted.Persist(delta);
  restarted.ApplyAll({history[kLogStart]});
  restarted.machine = restarted.Reloaded();
  for (size_t i = kLogStart + 1; i < history.size(); ++i) restarted.ApplyAll({history[i]});
  ExpectSameState(leader.machine, restarted.machine, "restarted during re-apply");

  // Past the state index, entries apply normally again.
  auto next = log.Produce(1, 6, 1);
  ASSERT_TRUE(follower.Apply(next).ok());
  EXPECT_EQ(follower.machine.CheckProduce(1, 6, 1).verdict, Verdict::kDuplicate);
}

TEST(PartitionSnapshot, SnapshotTakenWhileReapplyingStillCoversTheStateIndex) {
  // A follower restored at log start 4 with a state reflecting entry 12 has re-applied only up to 8 when it is
  // asked for a snapshot itself (it became leader, or trims its log). That snapshot must say the state reflects
  // entry 12, or whoever installs it applies entries 9..12 a second time.
  LogBuilder log;
  auto history = LeaderHistory(log);
  Replica leader;
  leader.ApplyAll(history);
  Replica middle;
  StateDelta delta;
  ASSERT_TRUE(
      middle.machine.Restore(leader.machine.Snapshot(), {history[3].index, history[3].end_offset()}, &delta).ok());
  for (size_t i = 4; i < 8; ++i) middle.ApplyAll({history[i]});
  ASSERT_EQ(middle.machine.applied_index(), 8u);

  Replica last;
  ASSERT_TRUE(
      last.machine.Restore(middle.machine.Snapshot(), {history[7].index, history[7].end_offset()}, &delta).ok());
  for (size_t i = 8; i < history.size(); ++i) last.ApplyAll({history[i]});
  ExpectSameState(leader.machine, last.machine, "restored from a snapshot taken mid re-apply");
}

TEST(PartitionSnapshot, UnparsableSnapshotIsDataLoss) {
  PartitionMachine m;
  StateDelta delta;
  auto s = m.Restore(std::string("\xff\xff\xff\xff", 4), {3, 3}, &delta);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

// ---- Property: CheckProduce against a naive model --------------------------------------------------------------

// Remembers every batch each producer ever had applied and every batch in flight, and decides from the whole
// history: the window is simply "the last kIdempotenceWindowBatches of the history".
class NaiveProducerModel {
 public:
  struct Batch {
    uint64_t sequence;
    uint32_t count;
    raft::Offset base_offset;
    raft::Index index;
  };
  struct Expectation {
    Verdict verdict;
    raft::Offset base_offset = 0;  // kDuplicate
    raft::Index index = 0;         // kInFlight
    uint64_t expected = 0;         // kSequenceGap
  };

  Expectation Expect(uint64_t id, uint64_t seq, uint32_t count) const {
    const auto& h = History(id);
    const auto& f = InFlight(id);
    if (h.empty() && f.empty()) return {Verdict::kNew};
    const Batch& last = f.empty() ? h.back() : f.back();
    uint64_t next = last.sequence + last.count;
    if (seq == next) return {Verdict::kNew};
    for (const auto& b : f) {
      if (b.sequence == seq && b.count == count) return {Verdict::kInFlight, 0, b.index};
    }
    size_t window_start =
        h.size() > Limits::kIdempotenceWindowBatches ? h.size() - Limits::kIdempotenceWindowBatches : 0;
    for (size_t i = window_start; i < h.size(); ++i) {
      if (h[i].sequence == seq && h[i].count == count) return {Verdict::kDuplicate, h[i].base_offset};
    }
    return {Verdict::kSequenceGap, 0, 0, next};
  }

  uint64_t Next(uint64_t id) const {
    const auto& h = History(id);
    const auto& f = InFlight(id);
    if (!f.empty()) return f.back().sequence + f.back().count;
    if (!h.empty()) return h.back().sequence + h.back().count;
    return 0;
  }

  const std::vector<Batch>& History(uint64_t id) const { return Get(history, id); }
  const std::vector<Batch>& InFlight(uint64_t id) const { return Get(inflight, id); }

  std::map<uint64_t, std::vector<Batch>> history;
  std::map<uint64_t, std::vector<Batch>> inflight;

 private:
  static const std::vector<Batch>& Get(const std::map<uint64_t, std::vector<Batch>>& m, uint64_t id) {
    static const std::vector<Batch> kEmpty;
    auto it = m.find(id);
    return it == m.end() ? kEmpty : it->second;
  }
};

TEST(IdempotenceProperty, VerdictsMatchNaiveModelOverRandomProducesRetriesAndGaps) {
  constexpr int kSeeds = 2'000;
  constexpr int kSteps = 200;
  int checks = 0;
  std::map<Verdict, int> seen;  // every verdict must be exercised, not just kNew
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937_64 rng(seed);
    Replica leader;
    NaiveProducerModel model;
    struct Pending {
      raft::Entry entry;
      uint64_t producer_id;
      NaiveProducerModel::Batch batch;
    };
    std::vector<Pending> pending;  // proposed, in log order, not yet applied
    raft::Index next_index = 1;
    int64_t now_ms = 1'000;

    auto propose = [&](uint64_t id, uint64_t seq, uint32_t count) {
      LogBuilder b;
      b.next_index = next_index++;
      b.next_offset = pending.empty() ? leader.machine.end_offset() : pending.back().entry.end_offset();
      b.now_ms = now_ms++;
      raft::Entry e = b.Produce(id, seq, count);
      NaiveProducerModel::Batch batch{seq, count, e.base_offset, e.index};
      leader.machine.AddInFlight(id, seq, count, e.index);
      model.inflight[id].push_back(batch);
      pending.push_back(Pending{std::move(e), id, batch});
    };
    auto apply_front = [&](bool still_in_flight) {
      Pending p = std::move(pending.front());
      pending.erase(pending.begin());
      auto applied = leader.Apply(p.entry);
      ASSERT_TRUE(applied.ok()) << "seed " << seed << ": " << applied.status();
      model.history[p.producer_id].push_back(p.batch);
      if (still_in_flight) {
        auto& f = model.inflight[p.producer_id];
        ASSERT_FALSE(f.empty());
        f.erase(f.begin());
      }
    };

    for (int step = 0; step < kSteps; ++step) {
      uint64_t id = 1 + rng() % 5;
      int action = static_cast<int>(rng() % 100);
      uint64_t seq = 0;
      uint32_t count = 1 + static_cast<uint32_t>(rng() % 3);
      if (action < 35) {  // the next batch (or a fresh producer's first, at any sequence)
        seq = model.History(id).empty() && model.InFlight(id).empty() ? rng() % 1000 : model.Next(id);
      } else if (action < 65) {  // a retry of an earlier batch, applied or in flight, maybe past the window
        const auto& h = model.History(id);
        const auto& f = model.InFlight(id);
        size_t n = h.size() + f.size();
        if (n == 0) continue;
        size_t pick = n - 1 - std::min<size_t>(n - 1, rng() % (Limits::kIdempotenceWindowBatches + 6));
        const auto& b = pick < h.size() ? h[pick] : f[pick - h.size()];
        seq = b.sequence;
        count = rng() % 8 == 0 ? b.count + 1 : b.count;  // sometimes the same sequence but another batch
      } else if (action < 75) {                          // a gap, ahead or behind
        uint64_t next = model.Next(id);
        seq = rng() % 2 ? next + 1 + rng() % 5 : next - std::min<uint64_t>(next, 1 + rng() % 3);
      } else if (action < 93) {  // some of the pending entries commit
        size_t n = pending.empty() ? 0 : 1 + rng() % pending.size();
        for (size_t i = 0; i < n; ++i) apply_front(true);
        continue;
      } else {  // leadership lost: a prefix of the pending entries survives in the next leader's log
        leader.machine.ClearInFlight();
        model.inflight.clear();
        size_t keep = pending.empty() ? 0 : rng() % (pending.size() + 1);
        for (size_t i = 0; i < keep; ++i) apply_front(false);
        pending.clear();
        next_index = leader.machine.applied_index() + 1;
        if (rng() % 2) leader.machine = leader.Reloaded();  // and sometimes a restart
        continue;
      }

      auto want = model.Expect(id, seq, count);
      auto got = leader.machine.CheckProduce(id, seq, count);
      ++checks;
      ++seen[want.verdict];
      ASSERT_EQ(got.verdict, want.verdict) << "seed " << seed << " step " << step << ": producer " << id << " seq "
                                           << seq << " count " << count << " next " << model.Next(id) << ": want "
                                           << VerdictName(want.verdict) << " got " << VerdictName(got.verdict);
      switch (want.verdict) {
        case Verdict::kDuplicate:
          ASSERT_EQ(got.original.base_offset(), want.base_offset) << "seed " << seed << " step " << step;
          break;
        case Verdict::kInFlight:
          ASSERT_EQ(got.inflight_index, want.index) << "seed " << seed << " step " << step;
          break;
        case Verdict::kSequenceGap:
          ASSERT_EQ(got.expected_sequence, want.expected) << "seed " << seed << " step " << step;
          break;
        case Verdict::kNew:
          propose(id, seq, count);  // the leader proposes what it judged new
          break;
      }
    }
  }
  EXPECT_GT(checks, kSeeds * kSteps / 2) << "the property test should mostly check verdicts";
  for (Verdict v : {Verdict::kNew, Verdict::kDuplicate, Verdict::kInFlight, Verdict::kSequenceGap}) {
    EXPECT_GT(seen[v], kSeeds) << VerdictName(v) << " was checked only " << seen[v] << " times";
  }
}

}  // namespace
}  // namespace brook::server
