// Partition snapshots: a follower whose log was trimmed installs the leader's state, and re-applies entries the
// snapshot already covers without applying them twice.
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
  EXPECT_EQ(follower.machine.CheckProduce(Key(1, 6, 1)).verdict, Verdict::kDuplicate);
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

}  // namespace
}  // namespace brook::server
