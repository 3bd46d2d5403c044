// Quiet idle groups (docs/decisions.md D13) across hosts: an idle partition goes quiet on every replica, a produce
// wakes it, and a quiet partition whose leader's node goes silent still elects a new leader.
#include <algorithm>

#include "gtest/gtest.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::TestCluster;

// The stats of `topic`/0 on `node` (gathered on its loop, as the metrics are).
GroupStats StatsOf(TestCluster& cluster, uint64_t node, const std::string& topic) {
  std::vector<GroupStats> all;
  bool got = false;
  cluster.host(node).CollectStats(true, [&](StatsSample s) {
    all = std::move(s.groups);
    got = true;
  });
  EXPECT_TRUE(cluster.RunUntil([&] { return got; }));
  for (auto& s : all) {
    if (!s.is_metadata && s.topic == topic && s.partition == 0) return s;
  }
  ADD_FAILURE() << "n" << node << " hosts no " << topic << "/0";
  return {};
}

// Whether `flag` (quiesced, asleep) holds for `topic`/0 on every node.
bool AllOf(TestCluster& cluster, const std::string& topic, bool GroupStats::*flag) {
  for (uint64_t n = 1; n <= 3; ++n) {
    if (!(StatsOf(cluster, n, topic).*flag)) return false;
  }
  return true;
}

bool AllQuiet(TestCluster& cluster, const std::string& topic) {
  return AllOf(cluster, topic, &GroupStats::quiesced);
}
bool AllAsleep(TestCluster& cluster, const std::string& topic) {
  return AllOf(cluster, topic, &GroupStats::asleep);
}

// Creates topic "q" (1 partition, RF 3) and lets it go quiet everywhere; its leader, or 0 (a failure is added).
uint64_t QuietTopic(TestCluster& cluster) {
  if (auto s = cluster.CreateTopic("q", 1, 3); !s.ok()) {
    ADD_FAILURE() << "creating q: " << s.error_message();
    return 0;
  }
  const uint64_t leader = cluster.WaitForLeader("q", 0);
  cluster.RunTicks(20);
  EXPECT_TRUE(AllQuiet(cluster, "q"));
  return leader;
}

TEST(Quiescence, IdlePartitionGoesQuietEverywhereAndAProduceWakesIt) {
  TestCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("q", 1, 3).ok());
  const uint64_t leader = cluster.WaitForLeader("q", 0);
  ASSERT_NE(leader, 0u);
  ASSERT_TRUE(cluster.ProduceAndWait(leader, "q", 0, {"a"}).status.ok());
  cluster.RunTicks(20);
  ASSERT_TRUE(AllQuiet(cluster, "q"));
  for (uint64_t n = 1; n <= 3; ++n) {
    EXPECT_EQ(StatsOf(cluster, n, "q").high_watermark, 1u) << "n" << n << " learned the commit before going quiet";
  }
  // A produce to a quiet leader is taken, replicated and answered as ever; the group is awake meanwhile.
  auto a = cluster.ProduceAndWait(leader, "q", 0, {"b"});
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.response.base_offset(), 1u);
  EXPECT_FALSE(StatsOf(cluster, leader, "q").quiesced);
  cluster.RunTicks(20);
  EXPECT_TRUE(AllQuiet(cluster, "q")) << "idle again: quiet again";
  for (uint64_t n = 1; n <= 3; ++n) EXPECT_EQ(StatsOf(cluster, n, "q").high_watermark, 2u) << "n" << n;
}

// Quiet groups sleep (docs/decisions.md A22): the loop's per-turn walks leave them out, and whatever needs one
// wakes it: a produce (the core's wake hook), a message (the host's Step), a leadership transfer.
TEST(Quiescence, IdleGroupsSleepAndWakeForAProduceOrATransferAtOnce) {
  TestCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("q", 1, 3).ok());
  const uint64_t leader = cluster.WaitForLeader("q", 0);
  ASSERT_NE(leader, 0u);
  cluster.RunTicks(20);
  ASSERT_TRUE(AllAsleep(cluster, "q"));
  const auto before = cluster.clock().Now();
  auto a = cluster.ProduceAndWait(leader, "q", 0, {"a"});
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_LT(cluster.clock().Now() - before, 5 * cluster.options().tick)
      << "woken at the proposal, not by a timeout";
  cluster.RunTicks(20);
  ASSERT_TRUE(AllAsleep(cluster, "q")) << "idle again: asleep again";
  for (uint64_t n = 1; n <= 3; ++n) EXPECT_EQ(StatsOf(cluster, n, "q").high_watermark, 1u) << "n" << n;

  const uint64_t target = leader == 1 ? 2 : 1;
  auto moved = cluster.Call<v1::TransferLeadershipResponse>(
      [&](Host& h, std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done) {
        v1::TransferLeadershipRequest req;
        req.set_topic("q");
        req.set_partition(0);
        req.set_target_node_id(target);
        h.TransferLeadership(req, std::move(done));
      },
      leader);
  ASSERT_TRUE(moved.status.ok()) << moved.status.error_message();
  EXPECT_EQ(moved.response.leader_id(), target);
  ASSERT_EQ(cluster.WaitForLeader("q", 0), target);
  auto b = cluster.ProduceAndWait(target, "q", 0, {"b"});
  EXPECT_TRUE(b.status.ok()) << b.status.error_message();
  cluster.RunTicks(20);
  EXPECT_TRUE(AllAsleep(cluster, "q"));
}

TEST(Quiescence, AQuietPartitionElectsANewLeaderWhenItsLeadersNodeGoesSilent) {
  TestCluster cluster(3);
  const uint64_t old_leader = QuietTopic(cluster);
  ASSERT_NE(old_leader, 0u);
  const uint64_t old_term = StatsOf(cluster, old_leader, "q").term;
  cluster.Isolate(old_leader);
  // Nothing but the missing liveness beats tells the quiet followers.
  uint64_t new_leader = 0;
  int ticks = 0;
  for (; ticks < 80 && new_leader == 0; ++ticks) {
    cluster.RunTicks(1);
    for (uint64_t n = 1; n <= 3; ++n) {
      if (n == old_leader) continue;
      auto s = StatsOf(cluster, n, "q");
      if (s.is_leader && s.term > old_term) new_leader = n;
    }
  }
  ASSERT_NE(new_leader, 0u) << "no follower of the quiet partition took over";
  // An election timeout of silence (10 ticks, beats come every 2) counts as the followers' election timeout: the
  // rest of a randomized one (under 10 more) and they elect, as fast as ticking followers. A plain wake took 24.
  EXPECT_LE(ticks, 22) << "the quiet followers waited a whole election timeout after noticing the silence";
  auto a = cluster.ProduceAndWait(new_leader, "q", 0, {"after"});
  EXPECT_TRUE(a.status.ok()) << a.status.error_message();
  cluster.Heal();
  cluster.RunTicks(40);
  EXPECT_FALSE(StatsOf(cluster, old_leader, "q").is_leader) << "the old leader learned the new term";
}

// A killed leader's node is known down by its streams ending, not after an election timeout of silence: its quiet
// followers wake a heartbeat interval and a tick after the end is noted, and elect within the rest of a randomized
// election timeout; cut off instead (streams open, nothing arrives) they would stay quiet for 10 ticks.
TEST(Quiescence, AKilledLeadersNodeIsKnownDownByItsStreamsEnding) {
  TestCluster cluster(3);
  const uint64_t old_leader = QuietTopic(cluster);
  ASSERT_NE(old_leader, 0u);
  const uint64_t a = old_leader == 1 ? 2 : 1, b = 6 - old_leader - a;
  cluster.Kill(old_leader);
  int woke = 0;
  for (; woke < 20 && (StatsOf(cluster, a, "q").quiesced || StatsOf(cluster, b, "q").quiesced); ++woke) {
    cluster.RunTicks(1);
  }
  // The end is noted on the next tick, a heartbeat interval and a tick of silence follow (3 ticks), and the wake
  // shows in the stats a tick later: 5. Silence alone would take an election timeout (10 ticks).
  EXPECT_LE(woke, 6) << "the followers should wake once the stream ended and a heartbeat interval passed";
  int elected = woke;
  for (; elected < 60 && !StatsOf(cluster, a, "q").is_leader && !StatsOf(cluster, b, "q").is_leader; ++elected) {
    cluster.RunTicks(1);
  }
  EXPECT_LE(elected, 6 + 10) << "a new leader within the rest of a randomized election timeout";
  auto produced = cluster.ProduceAndWait(StatsOf(cluster, a, "q").is_leader ? a : b, "q", 0, {"after"});
  EXPECT_TRUE(produced.status.ok()) << produced.status.error_message();
}

// The trap TiKV issue 19070 describes: a partition written while one replica's node is down still goes quiet (the
// rest hold everything and are a quorum), and its leader wakes to bring that replica up to date as soon as the
// node's liveness beats are heard again, before the replica's own election timeout would.
TEST(Quiescence, APartitionWrittenWhileAReplicasNodeIsDownGoesQuietAndWakesWhenTheNodeReturns) {
  TestCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("q", 1, 3).ok());
  const uint64_t leader = cluster.WaitForLeader("q", 0);
  ASSERT_NE(leader, 0u);
  const uint64_t down = leader == 3 ? 2 : 3;
  const uint64_t other = 6 - leader - down;
  cluster.Isolate(down);
  ASSERT_TRUE(cluster.ProduceAndWait(leader, "q", 0, {"a"}).status.ok());
  cluster.RunTicks(40);  // an election timeout of silence (10 ticks), then two idle heartbeat intervals
  EXPECT_TRUE(StatsOf(cluster, leader, "q").quiesced) << "quiet with one replica's node down";
  EXPECT_TRUE(StatsOf(cluster, other, "q").quiesced);
  EXPECT_EQ(StatsOf(cluster, down, "q").high_watermark, 0u);
  cluster.Heal();
  int ticks = 0;
  for (; ticks < 40 && StatsOf(cluster, down, "q").high_watermark < 1; ++ticks) cluster.RunTicks(1);
  EXPECT_LE(ticks, 8) << "the returning node's beats wake the leader; an election timeout is 10-20 ticks";
  cluster.RunTicks(20);
  EXPECT_TRUE(AllQuiet(cluster, "q")) << "everyone holds everything: quiet again";
  EXPECT_TRUE(StatsOf(cluster, leader, "q").is_leader) << "the returning replica deposed no one";
}

// The node-wide totals the metrics export (brook_partitions_led, brook_groups_quiet, ...) count every partition,
// also when the sample carries no per-partition detail (--per_partition_metrics=false).
TEST(Quiescence, NodeTotalsCountEveryPartitionWithoutPerPartitionDetail) {
  TestCluster cluster(3);
  ASSERT_TRUE(cluster.CreateTopic("t", 4, 3).ok());
  for (uint32_t p = 0; p < 4; ++p) ASSERT_NE(cluster.WaitForLeader("t", p), 0u);
  cluster.RunTicks(20);
  auto sample = [&](uint64_t node, bool detail) {
    StatsSample out;
    bool got = false;
    cluster.host(node).CollectStats(detail, [&](StatsSample s) {
      out = std::move(s);
      got = true;
    });
    EXPECT_TRUE(cluster.RunUntil([&] { return got; }));
    return out;
  };
  uint64_t led = 0;
  for (uint64_t n = 1; n <= 3; ++n) {
    const StatsSample s = sample(n, false);
    ASSERT_EQ(s.groups.size(), 1u) << "only the metadata group in detail";
    EXPECT_TRUE(s.groups[0].is_metadata);
    EXPECT_EQ(s.totals.partitions, 4u);
    EXPECT_EQ(s.totals.quiet, 4u);
    EXPECT_EQ(s.totals.leaderless, 0u);
    EXPECT_EQ(s.totals.under_replicated, 0u);
    led += s.totals.led;
    EXPECT_EQ(sample(n, true).groups.size(), 5u) << "the metadata group and every partition";
  }
  EXPECT_EQ(led, 4u) << "each partition led once";
  const uint64_t down = 3;
  cluster.Isolate(down);
  // The other two take over what n3 led, and count every partition they lead as under-replicated.
  bool settled = false;
  for (int t = 0; t < 100 && !settled; t += 5) {
    cluster.RunTicks(5);
    const StatsSample a = sample(1, false), b = sample(2, false);
    settled = a.totals.led + b.totals.led == 4 && a.totals.under_replicated == a.totals.led &&
              b.totals.under_replicated == b.totals.led;
  }
  EXPECT_TRUE(settled) << "n1 and n2 should lead all 4 partitions, each under-replicated";
}

TEST(Quiescence, TurnedOffEveryGroupKeepsTicking) {
  HostOptions options;
  options.quiesce_idle_groups = false;
  TestCluster cluster(3, options);
  ASSERT_TRUE(cluster.CreateTopic("q", 1, 3).ok());
  ASSERT_NE(cluster.WaitForLeader("q", 0), 0u);
  cluster.RunTicks(20);
  for (uint64_t n = 1; n <= 3; ++n) EXPECT_FALSE(StatsOf(cluster, n, "q").quiesced) << "n" << n;
}

}  // namespace
}  // namespace brook::server
