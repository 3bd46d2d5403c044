// Key compaction on three in-process hosts (server/host/testing/test_cluster.h; passes run inside the turns that
// start them): every replica compacts its own applied log and keeps the latest record of each key at its offset;
// tombstones expire by time; a follower that was away catches up from compacted entries (and still knows a retry
// of a compacted batch for a duplicate once it leads), or by snapshot once the leader dropped a prefix that
// compaction emptied.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/host/host.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::TestCluster;

HostOptions CompactionOptions() {
  HostOptions o;
  o.compaction_interval = std::chrono::milliseconds(100);
  o.compaction_min_dirty_records = 10;
  o.compaction_max_delay = std::chrono::milliseconds(300);  // the last few records get their pass too
  return o;
}

v1::TopicConfig Compact(uint64_t tombstone_retention_ms = 0) {
  v1::TopicConfig c;
  c.set_cleanup_policy(v1::CLEANUP_COMPACT);
  c.set_tombstone_retention_ms(tombstone_retention_ms);
  return c;
}

v1::Record Put(const std::string& key, const std::string& value) {
  v1::Record r;
  r.set_key(key);
  r.set_value(value);
  return r;
}

v1::Record Delete(const std::string& key) {
  v1::Record r;
  r.set_key(key);
  r.set_tombstone(true);
  return r;
}

class CompactionHostTest : public ::testing::Test {
 protected:
  void Create(v1::TopicConfig config) {
    ASSERT_TRUE(cluster_.CreateTopic("state", 1, 3, config).ok());
    leader_ = cluster_.WaitForLeader("state", 0);
    ASSERT_NE(leader_, 0u);
  }

  // Writes `records` in one batch through the leader and remembers the latest offset of each key.
  uint64_t Write(const std::vector<v1::Record>& records, uint64_t producer_id = 0, uint64_t sequence = 0) {
    auto a = cluster_.ProduceRecords(leader_, "state", 0, records, producer_id, sequence);
    cluster_.RunUntil([&] { return a->times > 0; });
    EXPECT_TRUE(a->status.ok()) << a->status.error_message();
    for (size_t i = 0; i < records.size(); ++i) latest_[records[i].key()] = a->response.base_offset() + i;
    return a->response.base_offset();
  }

  // `rounds` batches of `per_batch` updates cycling over `keys` keys.
  void Updates(int rounds, int per_batch, int keys) {
    for (int b = 0; b < rounds; ++b) {
      std::vector<v1::Record> batch;
      for (int i = 0; i < per_batch; ++i) {
        const int n = b * per_batch + i;
        batch.push_back(Put("key-" + std::to_string(n % keys), "value-" + std::to_string(n)));
      }
      Write(batch);
    }
  }

  // What a correct compaction keeps: offset -> "key=value" ("key=(deleted)" for a tombstone).
  std::map<uint64_t, std::string> Latest(bool with_tombstones = true) const {
    std::map<uint64_t, std::string> out;
    for (const auto& [key, offset] : latest_) {
      const bool deleted = deleted_.contains(key) && deleted_.at(key) == offset;
      if (!deleted || with_tombstones) out[offset] = key + (deleted ? "=(deleted)" : "=v");
    }
    return out;
  }
  std::map<uint64_t, std::string> Stored(uint64_t node) {
    std::map<uint64_t, std::string> out;
    for (const auto& [offset, r] : cluster_.StoredRecords(node, "state", 0)) {
      out[offset] = r.key() + (r.tombstone() ? "=(deleted)" : "=v");
    }
    return out;
  }
  // Rounds until every listed node stores exactly `want`.
  bool Converges(const std::vector<uint64_t>& nodes, const std::map<uint64_t, std::string>& want) {
    return cluster_.RunUntil([&] {
      for (uint64_t n : nodes) {
        if (Stored(n) != want) return false;
      }
      return true;
    });
  }

  TestCluster cluster_{3, CompactionOptions()};
  uint64_t leader_ = 0;
  std::map<std::string, uint64_t> latest_;
  std::map<std::string, uint64_t> deleted_;  // key -> offset of its tombstone
};

TEST_F(CompactionHostTest, EveryReplicaKeepsTheLatestRecordOfEachKeyAtItsOffset) {
  Create(Compact());
  Write({Put("first", "never updated")});
  Updates(50, 4, 5);
  ASSERT_TRUE(Converges({1, 2, 3}, Latest())) << "some replica kept superseded records";
  for (uint64_t n = 1; n <= 3; ++n) {
    auto view = cluster_.View(n, "state", 0);
    EXPECT_EQ(view->high_watermark(), 201u) << "offsets never change";
    EXPECT_EQ(view->log_start_offset(), 0u) << "the first entry still holds a record";
    const auto stored = cluster_.StoredRecords(n, "state", 0);
    EXPECT_EQ(stored.at(200).value(), "value-199") << "the survivors are the latest values";
  }
  EXPECT_EQ(Write({Put("after", "x")}), 201u) << "appends go on at the end offset";
}

TEST_F(CompactionHostTest, ATombstoneHidesItsKeyThenExpiresAfterItsRetention) {
  Create(Compact(/*tombstone_retention_ms=*/60'000));
  Updates(5, 4, 4);  // key-0 .. key-3
  deleted_["key-1"] = Write({Delete("key-1")});
  Updates(5, 4, 4);
  deleted_["key-2"] = Write({Delete("key-2")});
  Updates(3, 1, 1);  // key-0 again; key-1's tombstone is superseded by its later updates
  ASSERT_TRUE(Converges({1, 2, 3}, Latest())) << "the tombstone of key-2 stays readable for its retention";
  // A minute later the tombstone goes on every replica (a pass is due when it expires).
  cluster_.RunTicks(static_cast<int>(61'000 / cluster_.options().tick.count()));
  ASSERT_TRUE(Converges({1, 2, 3}, Latest(/*with_tombstones=*/false)));
}

// A follower that was cut off while its peers compacted receives compacted entries, applies them (their span, the
// original CRC), and once it leads answers a retry of a compacted idempotent batch as a duplicate.
TEST_F(CompactionHostTest, AFollowerCatchesUpFromCompactedEntriesAndKnowsTheirRetries) {
  Create(Compact());
  Write({Put("anchor", "keeps the first entry")});
  const uint64_t away = leader_ == 3 ? 2 : 3;
  cluster_.Isolate(away);
  const std::vector<v1::Record> idempotent = {Put("key-0", "a"), Put("key-1", "b")};
  const uint64_t offset = Write(idempotent, /*producer_id=*/77, /*sequence=*/0);
  Updates(30, 4, 4);  // replaces key-0 and key-1: the idempotent batch is compacted away
  std::vector<uint64_t> up;
  for (uint64_t n = 1; n <= 3; ++n) {
    if (n != away) up.push_back(n);
  }
  ASSERT_TRUE(Converges(up, Latest()));
  cluster_.Heal();
  ASSERT_TRUE(Converges({away}, Latest())) << "the follower did not catch up to the compacted log";
  auto view = cluster_.View(away, "state", 0);
  EXPECT_EQ(view->high_watermark(), 123u);
  // Hand it the leadership, then retry the compacted batch.
  v1::TransferLeadershipRequest req;
  req.set_topic("state");
  req.set_target_node_id(away);
  int answered = 0;
  cluster_.host(leader_).TransferLeadership(req,
                                            [&](grpc::Status, v1::TransferLeadershipResponse) { ++answered; });
  ASSERT_TRUE(cluster_.RunUntil([&] { return cluster_.View(away, "state", 0)->leader() == away; }));
  leader_ = away;
  auto retry = cluster_.ProduceRecords(leader_, "state", 0, idempotent, 77, 0);
  cluster_.RunUntil([&] { return retry->times > 0; });
  ASSERT_TRUE(retry->status.ok()) << retry->status.error_message();
  EXPECT_TRUE(retry->response.duplicate()) << "a retry of a compacted batch is a duplicate, not a reused sequence";
  EXPECT_EQ(retry->response.base_offset(), offset);
}

// When compaction leaves a whole prefix without records, replicas drop it; a follower that needs it gets a
// snapshot and then serves the same records.
TEST_F(CompactionHostTest, AFollowerCatchesUpBySnapshotAfterItsPeersDroppedAnEmptiedPrefix) {
  Create(Compact());
  Updates(2, 4, 4);
  const uint64_t away = leader_ == 3 ? 2 : 3;
  cluster_.Isolate(away);
  Updates(40, 4, 4);
  for (uint64_t n = 1; n <= 3; ++n) {
    if (n == away) continue;
    ASSERT_TRUE(cluster_.RunUntil([&] { return cluster_.View(n, "state", 0)->log_start_offset() > 8; }))
        << "node " << n << " did not drop the prefix compaction emptied";
  }
  cluster_.Heal();
  ASSERT_TRUE(Converges({1, 2, 3}, Latest()));
  EXPECT_GT(cluster_.View(away, "state", 0)->log_start_offset(), 0u) << "it starts where the snapshot was taken";
  EXPECT_EQ(cluster_.View(away, "state", 0)->high_watermark(), 168u);
  EXPECT_EQ(Write({Put("after", "x")}), 168u);
}

}  // namespace
}  // namespace brook::server
