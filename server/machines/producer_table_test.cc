// Producer epochs and the producer table of a partition machine: fencing by a newer epoch, expiry of idle
// producers on every replica, and the cap on remembered producers. The rest of the machine is in
// partition_machine_test.cc.
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"
#include "server/machines/partition_machine.h"
#include "server/machines/partition_machine_testing.h"

namespace brook::server {
namespace {

using namespace testing;  // NOLINT: the test support of this folder

TEST(ProducerEpoch, ALowerEpochIsFencedAndAHigherOneStartsAtZero) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(7, 0, 2, 1, /*epoch=*/3), log.Produce(7, 2, 2, 1, 3)});
  auto fenced = r.machine.CheckProduce(Key(7, 4, 1, /*epoch=*/2));
  EXPECT_EQ(fenced.verdict, Verdict::kFenced) << VerdictName(fenced.verdict);
  EXPECT_EQ(fenced.current_epoch, 3u);
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 0, 2, 2)).verdict, Verdict::kFenced) << "even its old retries";
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 4, 1, 3)).verdict, Verdict::kNew) << "the current epoch goes on";
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 4, 1, 4)).verdict, Verdict::kUnknownProducer)
      << "a new instance starts at sequence 0";
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 0, 1, 4)).verdict, Verdict::kNew);
}

TEST(ProducerEpoch, TheNewEpochsFirstBatchReplacesTheWindowAndFencesTheOldInstance) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(7, 0, 2, 1, 0), log.Produce(7, 2, 2, 1, 0)});
  r.ApplyAll({log.Produce(7, 0, 1, 1, 1)});
  const auto& p = r.machine.producers().at(7);
  EXPECT_EQ(p.epoch(), 1u);
  ASSERT_EQ(p.batches_size(), 1) << "the old instance's batches are gone from the window";
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 2, 2, 0)).verdict, Verdict::kFenced);
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 0, 1, 1)).verdict, Verdict::kDuplicate);
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 1, 1, 1)).verdict, Verdict::kNew);
  ExpectSameState(r.machine, r.Reloaded(), "the epoch is persisted");
}

TEST(ProducerEpoch, AnInFlightBatchOfTheNewEpochFencesTheOldOneAlready) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(7, 0, 2, 1, 0)});
  r.machine.AddInFlight(Key(7, 0, 1, 1), 2);
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 2, 1, 0)).verdict, Verdict::kFenced);
  EXPECT_EQ(r.machine.CheckProduce(Key(7, 0, 1, 1)).verdict, Verdict::kInFlight);
}

// ---- Time: idle producers are forgotten
// --------------------------------------------------------------------------

TEST(ProducerTable, ProducersIdleLongerThanTheRetentionAreForgottenOnEveryReplica) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(1, 0, 1), log.Produce(2, 0, 1)});
  log.now_ms += static_cast<int64_t>(Limits::kProducerRetentionMs) / 2;
  r.ApplyAll({log.Produce(2, 1, 1)});  // producer 2 stays active, producer 1 goes idle
  log.now_ms += static_cast<int64_t>(Limits::kProducerRetentionMs) / 2 + 1000;
  while (log.next_index % 256 != 0) r.ApplyAll({log.Produce(3, log.next_index, 1)});
  EXPECT_TRUE(r.machine.producers().contains(1)) << "expiry runs only on every 256th entry";
  r.ApplyAll({log.Produce(3, log.next_index, 1)});
  EXPECT_FALSE(r.machine.producers().contains(1)) << "idle for longer than the retention";
  EXPECT_TRUE(r.machine.producers().contains(2));
  EXPECT_FALSE(r.stored.contains(PartitionMachine::ProducerKey(1)));
  EXPECT_EQ(r.machine.CheckProduce(Key(1, 1, 1)).verdict, Verdict::kUnknownProducer);
}

// Found by tests/fuzz/fuzz_partition_machine: a producer written and expired in the same turn (one StateDelta)
// was deleted, then written again by storage (deletes go first), so it came back after a restart.
TEST(ProducerTable, AProducerWrittenAndExpiredInOneTurnStaysForgottenAfterARestart) {
  LogBuilder log;
  Replica r;
  std::vector<raft::Entry> turn;
  while (log.next_index % 256 != 255) turn.push_back(log.Produce(3, log.next_index - 1, 1));
  turn.push_back(log.Produce(1, 0, 1));  // index 255
  log.now_ms += static_cast<int64_t>(Limits::kProducerRetentionMs) + 1000;
  turn.push_back(log.Produce(2, 0, 1));  // index 256, a day later: producers 1 and 3 expire
  r.ApplyTurn(turn);
  ASSERT_FALSE(r.machine.producers().contains(1));
  EXPECT_FALSE(r.stored.contains(PartitionMachine::ProducerKey(1))) << "the expired producer is still stored";
  ExpectSameState(r.machine, r.Reloaded(), "reloaded after the turn");
}

// Found by tests/fuzz/fuzz_partition_machine (UBSan): an append time near INT64_MIN (the header's time is not
// covered by the body CRC) overflowed the retention cutoff, which then forgot every producer.
TEST(ProducerTable, AnAppendTimeAtTheBottomOfItsRangeExpiresNobody) {
  LogBuilder log;
  Replica r;
  r.ApplyAll({log.Produce(1, 0, 1)});
  while (log.next_index % 256 != 0) r.ApplyAll({log.Produce(3, log.next_index - 2, 1)});
  log.now_ms = std::numeric_limits<int64_t>::min();
  r.ApplyAll({log.Produce(3, log.next_index - 2, 1)});  // index 256: expiry runs with that time
  EXPECT_TRUE(r.machine.producers().contains(1));
  EXPECT_TRUE(r.machine.producers().contains(3));
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
  EXPECT_EQ(r.machine.CheckProduce(Key(2, 1, 1)).verdict, Verdict::kUnknownProducer)
      << "an evicted producer's next batch is refused, not accepted at any sequence";
  EXPECT_EQ(r.machine.CheckProduce(Key(2, 0, 1)).verdict, Verdict::kNew) << "it may start over at 0";

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
  EXPECT_EQ(r.machine.CheckProduce(Key(1, 0, 1)).verdict, Verdict::kDuplicate);
  EXPECT_FALSE(r.machine.producers().contains(2)) << "producer 2 was written first among equal times";
}

}  // namespace
}  // namespace brook::server
