// The metadata state machine (topics, group ids) and Place(): even preferred leaders across nodes and topics,
// distinct replicas, the replication factor. Ends with a seeded property test of leader balance.
#include "server/machines/metadata_machine.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/common/limits.h"
#include "server/machines/metadata_testing.h"

namespace brook::server {
namespace {

std::string Describe(const std::map<uint64_t, int>& counts) {
  return absl::StrJoin(
      counts, " ", [](std::string* out, const auto& kv) { absl::StrAppend(out, "n", kv.first, "=", kv.second); });
}

std::pair<int, int> MinMax(const std::map<uint64_t, int>& counts) {
  int lo = INT32_MAX, hi = 0;
  for (const auto& [n, c] : counts) {
    lo = std::min(lo, c);
    hi = std::max(hi, c);
  }
  return {lo, hi};
}

// ---- Apply ---------------------------------------------------------------------------------------------------

TEST(MetadataApply, CreateTopicAssignsTopicAndGroupIdsAtApply) {
  Controller c({1, 2, 3});
  auto placed = c.PlaceTopic("orders", 3, 3);
  for (const auto& p : placed.partitions()) {
    EXPECT_EQ(p.group_id(), 0u) << "Place leaves group ids to apply, so every node assigns the same ones";
  }
  auto applied = c.Create("orders", 3, 3);
  ASSERT_TRUE(applied.status.ok()) << applied.status;
  EXPECT_EQ(applied.topic, "orders");
  EXPECT_EQ(applied.created.topic_id(), 1u);
  ASSERT_EQ(applied.created.partitions_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(applied.created.partitions(i).group_id(), static_cast<uint64_t>(1 + i))
        << "partition " << i << " gets the next group id (ids start at 1; group 0 is metadata)";
  }
  ASSERT_TRUE(c.machine.state().topics().contains("orders"));
  EXPECT_EQ(c.machine.state().topics().at("orders").SerializeAsString(), applied.created.SerializeAsString());
  EXPECT_TRUE(c.stored.contains(std::string(MetadataMachine::kStateKey))) << "the state is persisted";
}

TEST(MetadataApply, CreatingAnExistingTopicIsAlreadyExistsAndChangesNothing) {
  Controller c({1, 2, 3});
  ASSERT_TRUE(c.Create("orders", 2, 3).status.ok());
  auto again = c.Create("orders", 5, 1);
  EXPECT_EQ(again.status.code(), absl::StatusCode::kAlreadyExists) << again.status;
  EXPECT_NE(again.status.message().find("orders"), absl::string_view::npos) << "the message names the topic";
  EXPECT_EQ(c.machine.state().topics().at("orders").partitions_size(), 2) << "the first topic is kept";
  EXPECT_EQ(c.machine.state().next_group_id(), 3u) << "a refused create must not consume group ids";
}

TEST(MetadataApply, DeleteTopicRemovesItAndUnknownTopicIsNotFound) {
  Controller c({1, 2, 3});
  auto created = c.Create("orders", 2, 3);
  auto missing = c.Delete("payments");
  EXPECT_EQ(missing.status.code(), absl::StatusCode::kNotFound) << missing.status;
  auto wrong_id = c.Delete("orders", created.created.topic_id() + 1);
  EXPECT_EQ(wrong_id.status.code(), absl::StatusCode::kNotFound)
      << "a delete aimed at an earlier incarnation of the name must not delete the new one";
  EXPECT_TRUE(c.machine.state().topics().contains("orders"));

  auto deleted = c.Delete("orders", created.created.topic_id());
  ASSERT_TRUE(deleted.status.ok()) << deleted.status;
  EXPECT_EQ(deleted.deleted.SerializeAsString(), created.created.SerializeAsString())
      << "Applied::deleted is the topic as it was, so nodes can stop its groups";
  EXPECT_FALSE(c.machine.state().topics().contains("orders"));
  EXPECT_EQ(c.Delete("orders").status.code(), absl::StatusCode::kNotFound) << "deleting twice";
}

TEST(MetadataApply, GroupIdsAreNeverReusedAfterDelete) {
  Controller c({1, 2, 3});
  std::set<uint64_t> seen;
  for (int round = 0; round < 5; ++round) {
    auto created = c.Create("orders", 3, 3);
    ASSERT_TRUE(created.status.ok()) << created.status;
    for (const auto& p : created.created.partitions()) {
      EXPECT_TRUE(seen.insert(p.group_id()).second)
          << "round " << round << ": group id " << p.group_id() << " was used by a deleted topic";
    }
    ASSERT_TRUE(c.Delete("orders").status.ok());
  }
  // Also across a restart from persisted state.
  MetadataMachine reloaded;
  ASSERT_TRUE(reloaded.Load({{std::string(MetadataMachine::kStateKey), c.stored.at("meta")}}).ok());
  c.machine = reloaded;
  auto created = c.Create("orders", 1, 1);
  EXPECT_FALSE(seen.contains(created.created.partitions(0).group_id())) << "after reload";
  EXPECT_EQ(created.created.topic_id(), 6u) << "topic ids are never reused either";
}

TEST(MetadataApply, SnapshotRestoreRoundTrips) {
  Controller c({1, 2, 3});
  c.Create("orders", 4, 3);
  c.Create("audit", 1, 1);
  MetadataMachine other;
  StateDelta delta;
  ASSERT_TRUE(other.Restore(c.machine.Snapshot(), {}, &delta).ok());
  EXPECT_EQ(other.state().topics().size(), 2u);
  EXPECT_EQ(other.state().next_group_id(), c.machine.state().next_group_id());
  EXPECT_EQ(other.state().topics().at("orders").SerializeAsString(),
            c.machine.state().topics().at("orders").SerializeAsString());
  ASSERT_EQ(delta.puts.size(), 1u) << "the restored state is persisted";
}

TEST(MetadataApply, AlterTopicMergesTheNamedFieldsAtApplySoConcurrentChangesAllHold) {
  Controller c({1, 2, 3});
  auto created = c.Create("orders", 2, 3);
  auto alter = [&](const char* field, uint64_t value, uint64_t topic_id = 0) {
    internal::MetadataCommand cmd;
    auto* a = cmd.mutable_alter_topic();
    a->set_name("orders");
    a->set_topic_id(topic_id);
    a->add_set(field);
    if (std::string(field) == "retention_ms") a->mutable_config()->set_retention_ms(value);
    if (std::string(field) == "retention_bytes") a->mutable_config()->set_retention_bytes(value);
    return c.Propose(cmd);
  };
  // Two changes proposed against the same config, applied one after the other: both hold.
  ASSERT_TRUE(alter("retention_ms", 60'000).status.ok());
  auto second = alter("retention_bytes", 1 << 20, created.created.topic_id());
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_EQ(second.altered.config().retention_ms(), 60'000u);
  EXPECT_EQ(second.altered.config().retention_bytes(), 1u << 20);
  EXPECT_EQ(second.altered.partitions_size(), 2) << "Applied::altered is the whole topic";

  std::string before = c.StateBytes();
  auto other_incarnation = alter("retention_ms", 1, created.created.topic_id() + 1);
  EXPECT_EQ(other_incarnation.status.code(), absl::StatusCode::kNotFound) << other_incarnation.status;
  auto bad = alter("cleanup_policy", 1);
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kInvalidArgument) << bad.status;
  EXPECT_EQ(c.StateBytes(), before) << "a refused change leaves the state alone";
  EXPECT_EQ(c.machine.state().topics().at("orders").config().retention_ms(), 60'000u);
}

TEST(MetadataApply, RegisterNodeRecordsAndUpdatesAMembersAddressesWithinBounds) {
  Controller c({1, 2, 3});
  auto reg = [&](uint64_t id, std::string client, std::string metrics = "") {
    internal::MetadataCommand cmd;
    auto* n = cmd.mutable_register_node()->mutable_node();
    n->set_node_id(id);
    n->set_client_address(std::move(client));
    n->set_metrics_address(std::move(metrics));
    return c.Propose(cmd);
  };
  ASSERT_TRUE(reg(2, "10.0.0.2:7101", "10.0.0.2:9101").status.ok());
  ASSERT_TRUE(reg(2, "10.0.0.9:7101").status.ok()) << "a node that moved updates its record";
  EXPECT_EQ(c.machine.state().nodes().at(2).client_address(), "10.0.0.9:7101");
  EXPECT_EQ(c.machine.state().nodes_size(), 1);
  std::string before = c.StateBytes();

  auto zero = reg(0, "x:1");
  EXPECT_EQ(zero.status.code(), absl::StatusCode::kInvalidArgument) << zero.status;
  auto long_address = reg(3, std::string(Limits::kMaxAddressBytes + 1, 'a'));
  EXPECT_EQ(long_address.status.code(), absl::StatusCode::kInvalidArgument) << long_address.status;
  EXPECT_NE(long_address.status.message().find("longer than 256 bytes"), absl::string_view::npos);
  EXPECT_EQ(c.StateBytes(), before) << "a refused registration changes nothing";

  for (uint64_t id = 3; c.machine.state().nodes_size() < static_cast<int>(Limits::kMaxNodesPerCluster); ++id) {
    ASSERT_TRUE(reg(id, "h:1").status.ok());
  }
  auto past = reg(5'000, "h:1");
  EXPECT_EQ(past.status.code(), absl::StatusCode::kResourceExhausted) << past.status;
  EXPECT_TRUE(reg(2, "10.0.0.2:7101").status.ok()) << "a known node may still update its record at the limit";

  MetadataMachine reloaded;  // the records survive a restart and a snapshot
  ASSERT_TRUE(reloaded.Load({{std::string(MetadataMachine::kStateKey), c.stored.at("meta")}}).ok());
  EXPECT_EQ(reloaded.state().nodes().at(2).client_address(), "10.0.0.2:7101");
  MetadataMachine restored;
  StateDelta delta;
  ASSERT_TRUE(restored.Restore(c.machine.Snapshot(), {}, &delta).ok());
  EXPECT_EQ(restored.state().nodes_size(), c.machine.state().nodes_size());
}

// Replica moves at apply: each refusal leaves the state as it was; a completion needs the target's voters.
TEST(MetadataApply, MovesAreCheckedAtApplyAndCompleteOnlyAtTheirTarget) {
  Controller c({1, 2, 3, 4});
  for (uint64_t n = 1; n <= 4; ++n) {
    internal::MetadataCommand reg;
    reg.mutable_register_node()->mutable_node()->set_node_id(n);
    ASSERT_TRUE(c.Propose(reg).status.ok());
  }
  ASSERT_TRUE(c.Create("t", 1, 3).status.ok());
  const auto& p0 = c.machine.state().topics().at("t").partitions(0);
  const std::vector<uint64_t> from(p0.replicas().begin(), p0.replicas().end());
  auto move = [&](std::vector<uint64_t> to) {
    internal::MetadataCommand cmd;
    cmd.mutable_move_replicas()->set_topic("t");
    cmd.mutable_move_replicas()->set_partition(0);
    for (auto n : to) cmd.mutable_move_replicas()->add_target(n);
    cmd.mutable_move_replicas()->set_time_ms(77);
    return c.Propose(cmd);
  };
  auto complete = [&](std::vector<uint64_t> voters) {
    internal::MetadataCommand cmd;
    cmd.mutable_complete_move()->set_group_id(p0.group_id());
    for (auto n : voters) cmd.mutable_complete_move()->add_voters(n);
    return c.Propose(cmd);
  };
  EXPECT_EQ(move({4, 1}).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(move({4, 4, 1}).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(move({4, 9, 1}).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(complete({4, 2, 3}).status.code(), absl::StatusCode::kFailedPrecondition) << "no move runs";
  const std::vector<uint64_t> to = {4, from[1], from[2]};
  auto started = move(to);
  ASSERT_TRUE(started.status.ok()) << started.status;
  EXPECT_EQ(started.placed.partitions(0).target_replicas_size(), 3);
  EXPECT_EQ(move({from[0], 4, from[2]}).status.code(), absl::StatusCode::kFailedPrecondition) << "one at a time";
  EXPECT_EQ(complete(from).status.code(), absl::StatusCode::kFailedPrecondition) << "voters are not the target";
  auto done = complete({from[2], 4, from[1]});
  ASSERT_TRUE(done.status.ok()) << done.status;
  EXPECT_EQ(done.move_started_ms, 77);
  const auto& p = c.machine.state().topics().at("t").partitions(0);
  EXPECT_EQ(std::vector<uint64_t>(p.replicas().begin(), p.replicas().end()), to) << "in the target's order";
  EXPECT_EQ(p.target_replicas_size(), 0);
  EXPECT_TRUE(p.moved());
  // A cancel sets the target back to the replicas; with none running it is refused.
  internal::MetadataCommand cancel;
  cancel.mutable_cancel_move()->set_topic("t");
  EXPECT_EQ(c.Propose(cancel).status.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(move({from[0], from[1], from[2]}).status.ok());
  ASSERT_TRUE(c.Propose(cancel).status.ok());
  EXPECT_TRUE(c.machine.state().topics().at("t").partitions(0).move_cancelled());
  EXPECT_EQ(c.machine.state().topics().at("t").partitions(0).target_replicas(0), 4u);
}

TEST(MetadataApply, AddPartitionsAppendsNewGroupsWithinTheLimits) {
  Controller c({1, 2, 3});
  for (uint64_t n = 1; n <= 3; ++n) {
    internal::MetadataCommand reg;
    reg.mutable_register_node()->mutable_node()->set_node_id(n);
    ASSERT_TRUE(c.Propose(reg).status.ok());
  }
  ASSERT_TRUE(c.Create("t", 2, 3).status.ok());
  const uint64_t next_group = c.machine.state().next_group_id();
  internal::MetadataCommand cmd;
  cmd.mutable_add_partitions()->set_topic("t");
  *cmd.mutable_add_partitions()->mutable_partitions() = c.PlaceTopic("t", 2, 3).partitions();
  auto a = c.Propose(cmd);
  ASSERT_TRUE(a.status.ok()) << a.status;
  ASSERT_EQ(a.placed.partitions_size(), 4);
  EXPECT_EQ(a.placed.partitions(2).partition(), 2u);
  EXPECT_EQ(a.placed.partitions(2).group_id(), next_group);
  EXPECT_EQ(a.placed.partitions(3).group_id(), next_group + 1);
  internal::MetadataCommand none;
  none.mutable_add_partitions()->set_topic("t");
  EXPECT_EQ(c.Propose(none).status.code(), absl::StatusCode::kInvalidArgument);
  internal::MetadataCommand bad = cmd;
  bad.mutable_add_partitions()->mutable_partitions(0)->add_replicas(7);
  EXPECT_EQ(c.Propose(bad).status.code(), absl::StatusCode::kInvalidArgument) << "four replicas for factor 3";
  EXPECT_EQ(c.machine.state().topics().at("t").partitions_size(), 4) << "a refusal changes nothing";
}

TEST(MetadataApply, UnparsableEntryIsDataLoss) {
  MetadataMachine m;
  ASSERT_TRUE(m.Load({}).ok());
  raft::Entry e;
  e.index = 4;
  e.data = std::string("\xff\xff\xff", 3);
  StateDelta delta;
  auto applied = m.Apply(e, &delta);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << applied.status();
  e.data = raft::EntryData();  // parses, but holds no command
  applied = m.Apply(e, &delta);
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kDataLoss) << applied.status();
}

// ---- Place -----------------------------------------------------------------------------------------------------

TEST(Placement, PreferredLeadersRotateOverNodesAndReplicasFollowInIdOrder) {
  Controller c({3, 1, 2});  // unsorted on purpose
  auto t = c.PlaceTopic("orders", 6, 3);
  ASSERT_EQ(t.partitions_size(), 6);
  const std::vector<std::vector<uint64_t>> want = {{1, 2, 3}, {2, 3, 1}, {3, 1, 2},
                                                   {1, 2, 3}, {2, 3, 1}, {3, 1, 2}};
  for (int p = 0; p < 6; ++p) {
    std::vector<uint64_t> got(t.partitions(p).replicas().begin(), t.partitions(p).replicas().end());
    EXPECT_EQ(got, want[p]) << "partition " << p << " replicas";
    EXPECT_EQ(t.partitions(p).partition(), static_cast<uint32_t>(p));
  }
  EXPECT_EQ(t.replication_factor(), 3u);
  EXPECT_EQ(t.created_ms(), 5'000);
}

TEST(Placement, ReplicasAreDistinctAndMatchTheReplicationFactor) {
  for (uint32_t nodes = 1; nodes <= 7; ++nodes) {
    std::vector<uint64_t> ids;
    for (uint32_t i = 0; i < nodes; ++i) ids.push_back(10 * (i + 1));
    Controller c(ids);
    for (uint32_t rf = 1; rf <= nodes; ++rf) {
      auto t = c.PlaceTopic("t", 12, rf);
      for (const auto& p : t.partitions()) {
        ASSERT_EQ(static_cast<uint32_t>(p.replicas_size()), rf) << nodes << " nodes, rf " << rf;
        std::set<uint64_t> distinct(p.replicas().begin(), p.replicas().end());
        EXPECT_EQ(distinct.size(), rf) << nodes << " nodes, rf " << rf << ": a node holds two replicas";
        for (uint64_t r : distinct) EXPECT_TRUE(std::count(ids.begin(), ids.end(), r)) << "unknown node " << r;
      }
    }
  }
}

TEST(Placement, LeadersStayEvenAcrossSeveralTopics) {
  Controller c({1, 2, 3, 4});
  c.Create("a", 3, 3);  // leaders 1, 2, 3
  auto b = c.PlaceTopic("b", 3, 3);
  EXPECT_EQ(b.partitions(0).replicas(0), 4u) << "node 4 leads nothing yet, so it leads the next partition";
  c.Create("b", 3, 3);
  c.Create("c", 2, 2);
  auto [lo, hi] = MinMax(c.LeaderCounts());
  EXPECT_LE(hi - lo, 1) << "preferred leaders: " << Describe(c.LeaderCounts());
}

TEST(PlacementProperty, LeaderCountsDifferByAtMostOneAfterEveryPlacement) {
  for (uint64_t seed = 1; seed <= 2'000; ++seed) {
    std::mt19937_64 rng(seed);
    size_t n = 1 + rng() % 9;
    std::vector<uint64_t> nodes;
    for (uint64_t id = 1; nodes.size() < n; ++id) {
      if (rng() % 2) nodes.push_back(id);
    }
    std::shuffle(nodes.begin(), nodes.end(), rng);
    Controller c(nodes);
    int topics = 1 + static_cast<int>(rng() % 6);
    for (int t = 0; t < topics; ++t) {
      uint32_t partitions = 1 + static_cast<uint32_t>(rng() % 40);
      uint32_t rf = 1 + static_cast<uint32_t>(rng() % std::min<size_t>(n, 3));
      auto created = c.Create(absl::StrCat("t", t), partitions, rf);
      ASSERT_TRUE(created.status.ok()) << "seed " << seed;
      for (const auto& p : created.created.partitions()) {
        std::set<uint64_t> distinct(p.replicas().begin(), p.replicas().end());
        ASSERT_EQ(distinct.size(), rf) << "seed " << seed << " topic " << t << " partition " << p.partition();
      }
      auto counts = c.LeaderCounts();
      auto [lo, hi] = MinMax(counts);
      ASSERT_LE(hi - lo, 1) << "seed " << seed << ", " << n << " nodes, after topic " << t << " (" << partitions
                            << " partitions): " << Describe(counts);
    }
  }
}

}  // namespace
}  // namespace brook::server
