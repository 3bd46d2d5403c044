// A coordinator partition (docs/decisions.md A19): group commands applied as entries of the partition's Raft
// log are persisted one group per key, survive a restart, travel in snapshots, and are not applied twice after a
// snapshot; refused commands and corrupt keys change nothing and say so.
#include "gtest/gtest.h"
#include "server/machines/partition_machine_testing.h"

namespace brook::server {
namespace {

using testing::LogBuilder;
using testing::Replica;

internal::GroupCommand Join(const std::string& group, const std::string& member) {
  internal::GroupCommand c;
  c.set_group(group);
  c.set_now_ms(5);
  auto* hb = c.mutable_heartbeat();
  hb->set_member_id(member);
  hb->set_has_topics(true);
  hb->add_topics("orders");
  (*hb->mutable_partition_counts())["orders"] = 4;
  return c;
}

internal::GroupCommand Commit(const std::string& group, const std::string& member, uint32_t epoch,
                              uint32_t partition, uint64_t offset) {
  internal::GroupCommand c;
  c.set_group(group);
  c.mutable_commit()->set_member_id(member);
  c.mutable_commit()->set_member_epoch(epoch);
  auto* o = c.mutable_commit()->add_offsets();
  o->set_topic("orders");
  o->set_partition(partition);
  o->set_offset(offset);
  return c;
}

TEST(PartitionGroups, CommandsArePersistedPerGroupAndSurviveARestart) {
  LogBuilder log;
  Replica r;
  auto joined = r.Apply(log.Group(Join("billing", "m1")));
  ASSERT_TRUE(joined.ok());
  ASSERT_TRUE(joined->group_command);
  ASSERT_TRUE(joined->group.status.ok()) << joined->group.status;
  EXPECT_EQ(joined->group.assignment.size(), 4u);
  EXPECT_FALSE(joined->records);
  auto committed = r.Apply(log.Group(Commit("billing", "m1", joined->group.member_epoch, 2, 17)));
  ASSERT_TRUE(committed.ok() && committed->group.status.ok());
  ASSERT_TRUE(r.Apply(log.Group(Join("audit", "x1"))).ok());
  EXPECT_TRUE(r.stored.contains(PartitionMachine::CoordinatedGroupKey("billing")));
  EXPECT_TRUE(r.stored.contains(PartitionMachine::CoordinatedGroupKey("audit")));
  EXPECT_EQ(r.machine.end_offset(), 0u) << "group commands take no offsets";

  PartitionMachine again = r.Reloaded();
  testing::ExpectSameState(r.machine, again, "after a restart");
  EXPECT_EQ(again.coordinator().Find("billing")->offsets.at({"orders", 2}).offset, 17u);

  // A refused command (a member that does not exist) persists nothing.
  auto groups_only = [&] {
    auto out = r.stored;
    std::erase_if(out, [](const auto& kv) { return !kv.first.starts_with("c/"); });
    return out;
  };
  const auto before = groups_only();
  auto refused = r.Apply(log.Group(Commit("billing", "ghost", 1, 0, 99)));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->group.refusal, GroupRefusal::kUnknownMember);
  EXPECT_EQ(groups_only(), before);

  // Deleting an empty group deletes its key.
  internal::GroupCommand leave;
  leave.set_group("audit");
  leave.mutable_heartbeat()->set_member_id("x1");
  leave.mutable_heartbeat()->set_member_epoch(-1);
  ASSERT_TRUE(r.Apply(log.Group(leave))->group.status.ok());
  internal::GroupCommand del;
  del.set_group("audit");
  del.mutable_delete_group();
  ASSERT_TRUE(r.Apply(log.Group(del))->group.group_deleted);
  EXPECT_FALSE(r.stored.contains(PartitionMachine::CoordinatedGroupKey("audit")));
  testing::ExpectSameState(r.machine, r.Reloaded(), "after a delete");
}

TEST(PartitionGroups, ASnapshotCarriesTheGroupsAndEntriesItHoldsAreNotAppliedTwice) {
  LogBuilder log;
  std::vector<raft::Entry> entries;
  entries.push_back(log.Produce(7, 0, 3));
  entries.push_back(log.Group(Join("billing", "m1")));
  entries.push_back(log.Group(Commit("billing", "m1", 1, 0, 2)));
  entries.push_back(log.Group(Join("billing", "m2")));
  entries.push_back(log.Group(Commit("billing", "m1", 1, 1, 3)));
  Replica leader;
  leader.ApplyAll(entries);
  const std::string snapshot = leader.machine.Snapshot();

  // A follower that knew another group, restoring with a log start at entry 2: entries 3..5 come again.
  Replica follower;
  LogBuilder other;
  ASSERT_TRUE(follower.Apply(other.Group(Join("stale", "s1"))).ok());
  StateDelta delta;
  ASSERT_TRUE(follower.machine.Restore(snapshot, {2, 3}, &delta).ok());
  follower.Persist(delta);
  EXPECT_FALSE(follower.stored.contains(PartitionMachine::CoordinatedGroupKey("stale")));
  for (size_t i = 2; i < entries.size(); ++i) ASSERT_TRUE(follower.Apply(entries[i]).ok());
  testing::ExpectSameState(leader.machine, follower.machine, "after restore and re-apply");
  testing::ExpectSameState(leader.machine, follower.Reloaded(), "after restore, re-apply and restart");
}

TEST(PartitionGroups, ACorruptGroupKeyIsDataLossAtLoad) {
  PartitionMachine m;
  std::vector<std::pair<std::string, std::string>> state = {
      {PartitionMachine::CoordinatedGroupKey("billing"), "\xff\xfe not a group"}};
  auto s = m.Load(state, {0, 0});
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("consumer group"), std::string::npos) << s;
}

}  // namespace
}  // namespace brook::server
