// Key compaction on a live 3-node cluster (real brookd processes on loopback): a compacted topic takes many
// updates over few keys and some tombstones; every replica then serves exactly the latest record of each key at
// its original offset (removed offsets as COMPACTED ranges), tombstones expire, a restarted node serves the same,
// and a follower that was down while its peers compacted and dropped a prefix catches up by snapshot and serves
// the same too. Timing: passes are checked every 100 ms (brookd --compaction_check_ms), so waits are short.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kTombstoneRetentionMs = 6000;
constexpr int kKeys = 8;

// What a replica serves: offset -> "key=value", or "key=(x)" for a tombstone.
using Served = std::map<uint64_t, std::string>;

std::string Describe(const Served& s) {
  std::string out;
  for (const auto& [o, r] : s) absl::StrAppend(&out, o, ":", r, " ");
  return out;
}

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.extra_flags = {"--compaction_check_ms=100", "--compaction_min_dirty_records=50",
                           "--compaction_max_delay_ms=300"};
    auto c = Cluster::Start(options);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    client_ = std::make_unique<RawClient>(cluster_->client_addresses());
    v1::TopicConfig config;
    config.set_cleanup_policy(v1::CLEANUP_COMPACT);
    config.set_tombstone_retention_ms(kTombstoneRetentionMs);
    ASSERT_TRUE(client_->CreateTopic("state", 1, 3, 20s, config).ok());
  }

  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (const auto& n : cluster_->nodes()) {
        std::cerr << "---- log of node " << n.id << " ----\n" << cluster_->LogTail(n.id, 30);
      }
    }
  }

  // Writes `rounds` batches of 20 updates cycling over the keys (idempotent, so retries never duplicate), and
  // remembers the latest record of each key.
  void Updates(int rounds) {
    for (int b = 0; b < rounds; ++b) {
      v1::ProduceRequest req;
      req.set_topic("state");
      req.set_producer_id(42);
      req.set_sequence(sequence_);
      for (int i = 0; i < 20; ++i) {
        auto* r = req.add_records();
        r->set_key(absl::StrCat("key-", (next_ + i) % kKeys));
        r->set_value(absl::StrCat("value-", next_ + i));
      }
      Write(req);
      next_ += 20;
    }
  }
  uint64_t Put(const std::string& key, const std::string& value) {
    v1::ProduceRequest req;
    req.set_topic("state");
    req.set_producer_id(42);
    req.set_sequence(sequence_);
    req.add_records()->set_key(key);
    req.mutable_records(0)->set_value(value);
    return Write(req);
  }
  // A tombstone for `key`; returns its offset.
  uint64_t Delete(const std::string& key) {
    v1::ProduceRequest req;
    req.set_topic("state");
    req.set_producer_id(42);
    req.set_sequence(sequence_);
    req.add_records()->set_key(key);
    req.mutable_records(0)->set_tombstone(true);
    return Write(req);
  }
  uint64_t Write(const v1::ProduceRequest& req) {
    v1::ProduceResponse resp;
    auto s = client_->Produce(req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    sequence_ += req.records_size();
    for (int i = 0; i < req.records_size(); ++i) {
      const auto& r = req.records(i);
      latest_[r.key()] = {resp.base_offset() + i, r.key() + "=" + (r.tombstone() ? "(x)" : r.value())};
    }
    end_ = resp.base_offset() + resp.record_count();
    return resp.base_offset();
  }
  // The latest record of each key; tombstones only `with_tombstones`.
  Served Expected(bool with_tombstones) const {
    Served out;
    for (const auto& [key, at] : latest_) {
      if (with_tombstones || !at.second.ends_with("=(x)")) out[at.first] = at.second;
    }
    return out;
  }

  // Everything node `index` serves from its log start up to `end_`, checking on the way that every offset of each
  // answer is a record or in a COMPACTED range exactly once. Empty optional while it cannot serve all of it.
  std::optional<Served> Read(size_t index) {
    Served out;
    uint64_t at = 0;
    for (int reads = 0; at < end_ && reads < 200; ++reads) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 2s);
      v1::FetchRequest req;
      req.set_topic("state");
      req.set_offset(at);
      req.set_max_records(500);
      v1::FetchResponse resp;
      if (!client_->log(index).Fetch(&ctx, req, &resp).ok()) return std::nullopt;  // behind, or restarting
      if (resp.has_gap()) {
        EXPECT_EQ(resp.gap().reason(), v1::Gap::TRIMMED);
        at = resp.gap().end_offset();
        continue;
      }
      std::map<uint64_t, int> covered;
      for (const auto& r : resp.records()) {
        ++covered[r.offset()];
        out[r.offset()] = r.key() + "=" + (r.tombstone() ? "(x)" : r.value());
      }
      for (const auto& g : resp.compacted()) {
        EXPECT_EQ(g.reason(), v1::Gap::COMPACTED);
        for (uint64_t o = g.start_offset(); o < g.end_offset(); ++o) ++covered[o];
      }
      for (uint64_t o = at; o < resp.next_offset(); ++o) {
        EXPECT_EQ(covered[o], 1) << "node index " << index << " offset " << o << " is not accounted for once";
      }
      if (resp.next_offset() <= at) return std::nullopt;
      at = resp.next_offset();
    }
    if (at < end_) return std::nullopt;
    return out;
  }

  // Waits until every node in `nodes` serves exactly `want`.
  ::testing::AssertionResult Serve(const std::vector<size_t>& nodes, const Served& want,
                                   std::chrono::milliseconds timeout = 20s) {
    const auto deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
      bool all = true;
      for (size_t n : nodes) {
        auto got = Read(n);
        if (!got || *got != want) {
          all = false;
          last = absl::StrCat("node index ", n, " serves ", got ? Describe(*got) : "(cannot read it all)");
          break;
        }
      }
      if (all) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(50ms);
    }
    return ::testing::AssertionFailure() << last << "\nwant " << Describe(want);
  }

  // The partition's leader's node id, once there is one (0 after 20 s without).
  uint64_t Leader() {
    uint64_t id = 0;
    for (const auto deadline = Clock::now() + 20s; id == 0 && Clock::now() < deadline;) {
      id = client_->LeaderId("state", 0);
      if (id == 0) std::this_thread::sleep_for(50ms);
    }
    EXPECT_NE(id, 0u) << "no leader";
    return id;
  }

  uint64_t LogStart(size_t index) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    v1::ListOffsetsRequest req;
    req.set_topic("state");
    req.set_spec(v1::ListOffsetsRequest::EARLIEST);
    v1::ListOffsetsResponse resp;
    return client_->log(index).ListOffsets(&ctx, req, &resp).ok() ? resp.offset() : 0;
  }

  std::string FullLog(uint64_t id) const {
    std::ifstream f(cluster_->node(id).log_path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<RawClient> client_;
  std::map<std::string, std::pair<uint64_t, std::string>> latest_;  // key -> (offset, "key=value")
  uint64_t sequence_ = 0;
  uint64_t next_ = 0;
  uint64_t end_ = 0;
};

TEST_F(CompactionTest, EveryReplicaServesTheLatestRecordOfEachKeyThroughRestartsAndASnapshot) {
  const std::vector<size_t> all = {0, 1, 2};
  Updates(60);  // 1,200 updates over 8 keys
  Delete("key-3");
  Updates(10);  // key-3 comes back; key-5 is deleted (for now) below
  Delete("key-5");
  const auto deleted_at = Clock::now();
  Put("key-0", "after the tombstone");

  // Every replica keeps the latest record of each key (the tombstone of key-5 while it is young enough).
  ASSERT_TRUE(Serve(all, Expected(true), std::chrono::milliseconds(kTombstoneRetentionMs) - 2500ms))
      << "within " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - deleted_at).count()
      << " ms of the first tombstone";
  // Then the tombstone expires everywhere.
  ASSERT_TRUE(Serve(all, Expected(false)));

  // A node restarted (gracefully) serves the same compacted log, and compaction goes on after writes resume.
  const uint64_t restarted = 1 + (Leader() % 3);
  ASSERT_TRUE(cluster_->Terminate(restarted, 15s).ok()) << cluster_->LogTail(restarted);
  ASSERT_TRUE(cluster_->Restart(restarted).ok());
  ASSERT_TRUE(cluster_->WaitReady(restarted, 20s).ok());
  Updates(5);
  ASSERT_TRUE(Serve(all, Expected(false)));

  // A follower is down while its peers compact and drop the prefix they emptied; it comes back by snapshot.
  const uint64_t leader = Leader();
  const uint64_t away = leader == 3 ? 2 : 3;
  const uint64_t away_end = end_;
  ASSERT_TRUE(cluster_->Kill(away).ok());
  Updates(30);
  std::vector<size_t> up;
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != away) up.push_back(id - 1);
  }
  ASSERT_TRUE(Serve(up, Expected(false)));
  const auto deadline = Clock::now() + 20s;
  while ((LogStart(up[0]) <= away_end || LogStart(up[1]) <= away_end) && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(LogStart(up[0]), away_end) << "compaction did not drop the prefix the follower still needs";
  ASSERT_GT(LogStart(up[1]), away_end);
  ASSERT_TRUE(cluster_->Restart(away).ok());
  ASSERT_TRUE(cluster_->WaitReady(away, 20s).ok());
  ASSERT_TRUE(Serve(all, Expected(false)));
  EXPECT_NE(FullLog(away).find("installed snapshot"), std::string::npos) << "it caught up without a snapshot";
  EXPECT_GT(LogStart(away - 1), away_end) << "its log starts where the snapshot was taken";
}

}  // namespace
}  // namespace brook::testing
