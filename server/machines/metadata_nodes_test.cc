// Node records in the metadata state machine: admitting joining nodes (AdmitNode), cancelling a decommission,
// evening preferred leaders, and replicas restored from a snapshot.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/common/limits.h"
#include "server/machines/metadata_machine.h"
#include "server/machines/metadata_testing.h"

namespace brook::server {
namespace {

// AdmitNode (brookd --join): ids come after every member and record, are never reused, and the same incarnation
// asking again gets its id back; a removed node's incarnation is refused, and so is anything past the bounds.
TEST(MetadataApply, AdmitNodeGivesNewIdsThatAreNeverReused) {
  Controller c({1, 2, 3});
  auto admit = [&](uint64_t incarnation, uint64_t min_id, std::string peer = "10.0.0.9:7201") {
    internal::MetadataCommand cmd;
    auto* n = cmd.mutable_admit_node()->mutable_node();
    n->set_incarnation(incarnation);
    n->set_peer_address(std::move(peer));
    n->set_client_address("10.0.0.9:7101");
    cmd.mutable_admit_node()->set_min_node_id(min_id);
    return c.Propose(cmd);
  };
  auto first = admit(111, /*min_id=*/4);
  ASSERT_TRUE(first.status.ok()) << first.status;
  EXPECT_EQ(first.node_id, 4u);
  EXPECT_EQ(c.machine.state().nodes().at(4).state(), v1::NODE_JOINING);
  EXPECT_EQ(c.machine.state().nodes().at(4).peer_address(), "10.0.0.9:7201");
  EXPECT_EQ(admit(111, 4).node_id, 4u) << "a retried join gets the same id";
  EXPECT_EQ(admit(222, 4).node_id, 5u);
  EXPECT_EQ(admit(333, /*min_id=*/9).node_id, 9u) << "the proposer's floor (every member) holds";
  // A removed node's id never comes back, and its data directory may not rejoin.
  internal::MetadataCommand removed;
  removed.mutable_set_node_state()->set_node_id(9);
  removed.mutable_set_node_state()->set_state(v1::NODE_REMOVED);
  ASSERT_TRUE(c.Propose(removed).status.ok());
  auto again = admit(333, 4);
  EXPECT_EQ(again.status.code(), absl::StatusCode::kFailedPrecondition) << again.status;
  EXPECT_NE(again.status.message().find("was removed from the cluster"), absl::string_view::npos);
  EXPECT_EQ(admit(444, 4).node_id, 10u);
  internal::MetadataCommand revive = removed;
  revive.mutable_set_node_state()->set_state(v1::NODE_ACTIVE);
  EXPECT_EQ(c.Propose(revive).status.code(), absl::StatusCode::kFailedPrecondition) << "REMOVED is for good";
  const std::string before = c.StateBytes();
  EXPECT_EQ(admit(0, 4).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admit(555, 4, std::string(Limits::kMaxAddressBytes + 1, 'a')).status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.StateBytes(), before) << "a refused admission changes nothing";
  for (uint64_t inc = 1000; c.machine.state().nodes_size() < static_cast<int>(Limits::kMaxNodesPerCluster);
       ++inc) {
    ASSERT_TRUE(admit(inc, 4).status.ok());
  }
  EXPECT_EQ(admit(99, 4).status.code(), absl::StatusCode::kResourceExhausted);
  // RegisterNode keeps what only a join records: the peer address (when it names none) and the incarnation.
  internal::MetadataCommand reg;
  reg.mutable_register_node()->mutable_node()->set_node_id(4);
  reg.mutable_register_node()->mutable_node()->set_client_address("10.0.0.4:7101");
  ASSERT_TRUE(c.Propose(reg).status.ok());
  EXPECT_EQ(c.machine.state().nodes().at(4).peer_address(), "10.0.0.9:7201");
  EXPECT_EQ(c.machine.state().nodes().at(4).incarnation(), 111u);
  EXPECT_EQ(c.machine.state().nodes().at(4).state(), v1::NODE_JOINING);
}

// CancelDecommission: the running moves off the node go back (moves that finished stay), and it is ACTIVE again.
TEST(MetadataApply, CancellingADecommissionCancelsItsRunningMovesAndReactivatesTheNode) {
  Controller c({1, 2, 3, 4});
  for (uint64_t n = 1; n <= 4; ++n) {
    internal::MetadataCommand reg;
    reg.mutable_register_node()->mutable_node()->set_node_id(n);
    ASSERT_TRUE(c.Propose(reg).status.ok());
  }
  ASSERT_TRUE(c.Create("t", 4, 3).status.ok());
  internal::MetadataCommand cancel;
  cancel.mutable_cancel_decommission()->set_node_id(2);
  auto idle = c.Propose(cancel);
  EXPECT_EQ(idle.status.code(), absl::StatusCode::kFailedPrecondition) << idle.status;
  EXPECT_NE(idle.status.message().find("not being decommissioned"), absl::string_view::npos);
  // Decommission node 2: each partition on it moves to the node that holds none of it.
  internal::MetadataCommand d;
  d.mutable_decommission()->set_node_id(2);
  std::map<uint32_t, std::vector<uint64_t>> before;
  for (const auto& p : c.machine.state().topics().at("t").partitions()) {
    before[p.partition()].assign(p.replicas().begin(), p.replicas().end());
    if (std::count(p.replicas().begin(), p.replicas().end(), 2) == 0) continue;
    std::vector<uint64_t> to = before[p.partition()];
    uint64_t spare = 1;
    while (std::count(to.begin(), to.end(), spare) > 0) ++spare;
    std::replace(to.begin(), to.end(), uint64_t{2}, spare);
    auto* m = d.mutable_decommission()->add_moves();
    m->set_topic("t");
    m->set_partition(p.partition());
    for (auto n : to) m->add_target(n);
  }
  ASSERT_GE(d.decommission().moves_size(), 2);
  ASSERT_TRUE(c.Propose(d).status.ok());
  // One move completes before the cancel: it stays done.
  const auto& first = d.decommission().moves(0);
  internal::MetadataCommand complete;
  complete.mutable_complete_move()->set_group_id(
      c.machine.state().topics().at("t").partitions(static_cast<int>(first.partition())).group_id());
  *complete.mutable_complete_move()->mutable_voters() = first.target();
  ASSERT_TRUE(c.Propose(complete).status.ok());
  auto cancelled = c.Propose(cancel);
  ASSERT_TRUE(cancelled.status.ok()) << cancelled.status;
  EXPECT_EQ(c.machine.state().nodes().at(2).state(), v1::NODE_ACTIVE);
  for (const auto& p : c.machine.state().topics().at("t").partitions()) {
    if (p.partition() == first.partition()) {
      EXPECT_EQ(p.target_replicas_size(), 0) << "the finished move stays done";
      EXPECT_EQ(std::count(p.replicas().begin(), p.replicas().end(), 2), 0);
    } else if (p.target_replicas_size() > 0) {
      EXPECT_TRUE(p.move_cancelled()) << "partition " << p.partition();
      EXPECT_EQ(std::vector<uint64_t>(p.target_replicas().begin(), p.target_replicas().end()),
                before[p.partition()])
          << "partition " << p.partition() << " goes back to where it was";
    }
  }
  EXPECT_EQ(c.Propose(cancel).status.code(), absl::StatusCode::kFailedPrecondition) << "once only";
}

// A snapshot holds the state as applied when it was sent, under the older index of the log start: a replica that
// restores it must not apply the entries in between again (an InitProducer would give a second epoch on that
// replica only, and its answers would disagree with the others' once it leads).
TEST(MetadataApply, AReplicaRestoredFromASnapshotDoesNotApplyItsEntriesTwice) {
  Controller leader({1, 2, 3});
  std::vector<internal::MetadataCommand> log;
  for (int i = 0; i < 3; ++i) {
    internal::MetadataCommand init;
    init.mutable_init_producer()->set_producer_name("orders-writer");
    log.push_back(init);
    ASSERT_TRUE(leader.Propose(init).status.ok());
  }
  ASSERT_TRUE(leader.Create("t", 1, 3).status.ok());  // entry 4
  // The snapshot is sent under the log start (index 1) but holds the state after entry 4.
  MetadataMachine follower;
  ASSERT_TRUE(follower.Load({}).ok());
  StateDelta delta;
  ASSERT_TRUE(follower.Restore(leader.machine.Snapshot(), LogPoint{1, 1}, &delta).ok());
  for (uint64_t index = 2; index <= 3; ++index) {
    raft::Entry e;
    e.index = index;
    e.term = 1;
    e.data = log[index - 1].SerializeAsString();
    StateDelta d;
    auto applied = follower.Apply(e, &d);
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_EQ(applied->status.code(), absl::StatusCode::kAlreadyExists) << "entry " << index;
  }
  EXPECT_EQ(follower.state().producers().at("orders-writer").epoch(),
            leader.machine.state().producers().at("orders-writer").epoch());
  EXPECT_EQ(follower.state().DebugString(), leader.machine.state().DebugString()) << "the replicas agree";
  // The next entry applies as usual.
  internal::MetadataCommand next;
  next.mutable_init_producer()->set_producer_name("orders-writer");
  raft::Entry e;
  e.index = 5;
  e.term = 1;
  e.data = next.SerializeAsString();
  StateDelta d;
  auto applied = follower.Apply(e, &d);
  ASSERT_TRUE(applied.ok() && applied->status.ok());
  EXPECT_EQ(applied->producer_epoch, leader.Propose(next).producer_epoch);
}

// SetPreferredLeader swaps a replica to the front; the replicas stay the same nodes, and a moving partition or a
// node that is not a replica is refused.
TEST(MetadataApply, SetPreferredLeaderReordersTheReplicasOnly) {
  Controller c({1, 2, 3, 4});
  ASSERT_TRUE(c.Create("t", 1, 3).status.ok());
  const auto p0 = c.machine.state().topics().at("t").partitions(0);
  const std::vector<uint64_t> before(p0.replicas().begin(), p0.replicas().end());
  auto set = [&](uint64_t node) {
    internal::MetadataCommand cmd;
    cmd.mutable_set_preferred_leader()->set_group_id(p0.group_id());
    cmd.mutable_set_preferred_leader()->set_node_id(node);
    return c.Propose(cmd);
  };
  auto swapped = set(before[2]);
  ASSERT_TRUE(swapped.status.ok()) << swapped.status;
  const auto& after = c.machine.state().topics().at("t").partitions(0).replicas();
  EXPECT_EQ(std::vector<uint64_t>(after.begin(), after.end()),
            (std::vector<uint64_t>{before[2], before[1], before[0]}));
  EXPECT_EQ(swapped.placed.name(), "t");
  uint64_t stranger = 1;
  while (std::count(before.begin(), before.end(), stranger) > 0) ++stranger;
  EXPECT_EQ(set(stranger).status.code(), absl::StatusCode::kFailedPrecondition);
  internal::MetadataCommand none;
  none.mutable_set_preferred_leader()->set_group_id(999);
  none.mutable_set_preferred_leader()->set_node_id(1);
  EXPECT_EQ(c.Propose(none).status.code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace brook::server
