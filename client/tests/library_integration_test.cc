// The C++ client library against a live 3-node cluster: ordering, retries, failover, idempotence, seeks,
// group offsets, routing.
#include <future>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/lib/consumer.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"

namespace brook::client::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

v1::Record Rec(std::string key, std::string value) {
  v1::Record r;
  r.set_key(std::move(key));
  r.set_value(std::move(value));
  return r;
}

// Reads every partition of `topic` from the beginning up to its current end. Bounded by `timeout`.
std::map<uint32_t, std::vector<v1::StoredRecord>> ReadAll(std::shared_ptr<Connection> connection,
                                                          const std::string& topic, milliseconds timeout) {
  std::map<uint32_t, std::vector<v1::StoredRecord>> out;
  auto consumer = Consumer::Create(connection);
  EXPECT_TRUE(consumer.ok());
  Consumer& c = **consumer;
  EXPECT_TRUE(c.Assign(topic).ok());
  EXPECT_TRUE(c.Seek(OffsetSpec::kEarliest).ok());
  std::map<uint32_t, uint64_t> end;
  for (uint32_t p : c.assignment()) {
    auto r = c.ListOffsets(p, OffsetSpec::kLatest);
    EXPECT_TRUE(r.ok()) << r.status();
    end[p] = r.ok() ? r->offset() : 0;
  }
  const auto deadline = Clock::now() + timeout;
  auto done = [&] {
    for (auto& [p, e] : end) {
      if (c.Position(p).value_or(e) < e) return false;
    }
    return true;
  };
  while (!done() && Clock::now() < deadline) {
    auto result = c.Poll(milliseconds(500));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) break;
    for (auto& r : result->records) out[r.partition].push_back(r.record);
  }
  EXPECT_TRUE(done()) << "did not read up to the end of " << topic << " in time";
  return out;
}

class ClientLibraryTest : public LiveCluster {};

TEST_F(ClientLibraryTest, KeyedRecordsKeepTheirOrderPerPartition) {
  CreateTopic("orders", 3);
  ProducerOptions options;
  options.max_in_flight_per_partition = 5;
  options.batch.max_batch_records = 50;  // many small batches: pipelining really happens
  auto producer = Producer::Create(connection_, options);
  ASSERT_TRUE(producer.ok());
  constexpr int kRecords = 3000;
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < kRecords; ++i) {
    acks.push_back((*producer)->Send("orders", Rec(absl::StrCat("k", i % 10), absl::StrCat(i))));
  }
  (*producer)->Flush();
  std::map<std::string, std::pair<uint32_t, uint64_t>> last;  // key -> partition, offset
  for (int i = 0; i < kRecords; ++i) {
    auto m = acks[i].get();
    ASSERT_TRUE(m.ok()) << "record " << i << ": " << m.status();
    const std::string key = absl::StrCat("k", i % 10);
    EXPECT_EQ(m->partition, PartitionForKey(key, 3)) << "partition must be fnv1a32(key) % 3";
    if (auto it = last.find(key); it != last.end()) {
      EXPECT_GT(m->offset, it->second.second) << "key " << key << " went backwards at record " << i;
    }
    last[key] = {m->partition, m->offset};
  }
  auto data = ReadAll(connection_, "orders", seconds(20));
  size_t total = 0;
  std::map<std::string, int> previous;
  for (auto& [p, records] : data) {
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].offset(), i) << "offsets are dense from 0 in partition " << p;
      int value = std::stoi(records[i].value());
      auto it = previous.find(records[i].key());
      if (it != previous.end()) {
        EXPECT_GT(value, it->second) << "order of key " << records[i].key();
      }
      previous[records[i].key()] = value;
    }
    total += records.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kRecords)) << "every record exactly once";
}

TEST_F(ClientLibraryTest, ForcedRetriesDoNotDuplicateOrReorder) {
  CreateTopic("retries", 1);
  ProducerOptions options;
  options.batch.max_batch_records = 20;
  options.max_in_flight_per_partition = 5;
  auto producer = Producer::Create(connection_, options);
  ASSERT_TRUE(producer.ok());
  // The next answers are turned into errors after the server wrote the batches: the producer must resend them,
  // the server must recognise the retries (same producer id and sequence), and nothing may be written twice.
  (*producer)->InjectResponseFailuresForTesting(4, absl::UnavailableError("injected: answer lost"));
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  constexpr int kRecords = 400;
  for (int i = 0; i < kRecords; ++i) acks.push_back((*producer)->Send("retries", Rec("", absl::StrCat(i))));
  (*producer)->Flush();
  std::set<uint64_t> offsets;
  for (int i = 0; i < kRecords; ++i) {
    auto m = acks[i].get();
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->offset, static_cast<uint64_t>(i)) << "record " << i << " must keep its place";
    offsets.insert(m->offset);
  }
  EXPECT_EQ(offsets.size(), static_cast<size_t>(kRecords));
  auto data = ReadAll(connection_, "retries", seconds(20));
  ASSERT_EQ(data[0].size(), static_cast<size_t>(kRecords)) << "a retried batch was written twice (or lost)";
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(data[0][i].value(), absl::StrCat(i));
}

TEST_F(ClientLibraryTest, LeaderKilledDuringSendsLosesAndDuplicatesNothing) {
  v1::Topic topic = CreateTopic("failover", 1);
  const uint64_t leader = topic.partitions(0).leader_id();
  ASSERT_NE(leader, 0u);
  ProducerOptions options;
  options.batch.max_batch_records = 25;
  options.delivery_timeout = seconds(40);
  auto producer = Producer::Create(connection_, options);
  ASSERT_TRUE(producer.ok());
  std::atomic<int> acked{0};
  constexpr int kRecords = 4000;
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
  for (int i = 0; i < kRecords; ++i) {
    acks.push_back((*producer)->Send("failover", Rec("", absl::StrCat(i))));
    if (i == kRecords / 4) {
      // Kill the leader once some records are acknowledged, with more in flight and queued behind them.
      ASSERT_TRUE(
          WaitFor([&] { return acks[0].wait_for(milliseconds(0)) == std::future_status::ready; }, seconds(20)));
      ASSERT_TRUE(cluster_->Kill(leader).ok());
    }
  }
  (*producer)->Flush();
  for (int i = 0; i < kRecords; ++i) {
    auto m = acks[i].get();
    ASSERT_TRUE(m.ok()) << "record " << i << ": " << m.status();
    EXPECT_EQ(m->offset, static_cast<uint64_t>(i)) << "record " << i;
    ++acked;
  }
  auto after = admin_->WaitForLeaders("failover", seconds(20));
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->partitions(0).leader_id(), leader) << "a new leader was elected";
  auto data = ReadAll(connection_, "failover", seconds(20));
  ASSERT_EQ(data[0].size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(data[0][i].value(), absl::StrCat(i)) << "offset " << i;
}

TEST_F(ClientLibraryTest, SeekByTimestampFindsTheFirstLaterRecord) {
  CreateTopic("events", 1);
  auto producer = Producer::Create(connection_);
  ASSERT_TRUE(producer.ok());
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> early;
  for (int i = 0; i < 10; ++i) early.push_back((*producer)->Send("events", Rec("", absl::StrCat("early", i))));
  (*producer)->Flush();
  int64_t last_early_ms = 0;
  for (auto& f : early) {
    auto m = f.get();
    ASSERT_TRUE(m.ok()) << m.status();
    last_early_ms = std::max(last_early_ms, m->append_time_ms);
  }
  // Let the wall clock pass the last early append time so the later records get a later one.
  auto now_ms = [] {
    return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  ASSERT_TRUE(WaitFor([&] { return now_ms() > last_early_ms + 5; }, seconds(2)));
  auto late = (*producer)->Send("events", Rec("", "late0"));
  for (int i = 1; i < 5; ++i) (void)(*producer)->Send("events", Rec("", absl::StrCat("late", i)));
  (*producer)->Flush();
  auto first_late = late.get();
  ASSERT_TRUE(first_late.ok());
  ASSERT_GT(first_late->append_time_ms, last_early_ms);

  auto consumer = Consumer::Create(connection_);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign("events").ok());
  ASSERT_TRUE((*consumer)->SeekToTimestamp(last_early_ms + 1).ok());
  EXPECT_EQ((*consumer)->Position(0), first_late->offset);
  auto result = (*consumer)->Poll(seconds(5));
  ASSERT_TRUE(result.ok());
  ASSERT_FALSE(result->records.empty());
  EXPECT_EQ(result->records[0].record.value(), "late0");
  // A time after everything: the latest offset.
  ASSERT_TRUE((*consumer)->SeekToTimestamp(now_ms() + 60000).ok());
  EXPECT_EQ((*consumer)->Position(0), 15u);
}

TEST_F(ClientLibraryTest, LongPollWakesOnNewRecords) {
  CreateTopic("wake", 2);
  auto consumer = Consumer::Create(connection_);
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->Assign("wake").ok());  // at the end
  auto producer = Producer::Create(connection_);
  ASSERT_TRUE(producer.ok());
  auto polled = std::async(std::launch::async, [&] { return (*consumer)->Poll(seconds(20)); });
  auto ack = (*producer)->Send("wake", Rec("", "hello"), 1u);
  ASSERT_TRUE(ack.get().ok());
  ASSERT_EQ(polled.wait_for(seconds(15)), std::future_status::ready) << "the long-poll did not wake";
  auto result = polled.get();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->records.size(), 1u);
  EXPECT_EQ(result->records[0].partition, 1u);
  EXPECT_EQ(result->records[0].record.value(), "hello");
}

TEST_F(ClientLibraryTest, GroupOffsetsRoundTripOnThePartitionLeaders) {
  CreateTopic("grouped", 3);
  auto producer = Producer::Create(connection_);
  ASSERT_TRUE(producer.ok());
  for (int i = 0; i < 30; ++i) (void)(*producer)->Send("grouped", Rec(absl::StrCat("k", i), "v"));
  (*producer)->Flush();
  auto consumer = Consumer::Create(connection_);
  ASSERT_TRUE(consumer.ok());
  Consumer& c = **consumer;
  ASSERT_TRUE(c.Assign("grouped").ok());
  auto before = c.FetchOffsets("g1");
  ASSERT_TRUE(before.ok()) << before.status();
  for (const auto& o : *before) EXPECT_FALSE(o.committed());
  std::map<uint32_t, uint64_t> commit;
  for (uint32_t p : c.assignment()) commit[p] = 1;
  ASSERT_TRUE(c.CommitOffsets("g1", commit).ok());
  auto after = c.FetchOffsets("g1");
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 3u);
  for (const auto& o : *after) {
    EXPECT_TRUE(o.committed());
    EXPECT_EQ(o.offset(), 1u);
    EXPECT_EQ(o.lag(), o.high_watermark() - 1);
  }
}

TEST_F(ClientLibraryTest, RoutesThroughAFollowerAndFollowsTransferredLeadership) {
  v1::Topic topic = CreateTopic("routed", 1);
  const uint64_t leader = topic.partitions(0).leader_id();
  uint64_t follower = 0;
  for (uint64_t r : topic.partitions(0).replicas()) {
    if (r != leader) follower = r;
  }
  ASSERT_NE(follower, 0u);
  // A client that only knows a follower still reaches the leader.
  ClientOptions only_follower;
  only_follower.bootstrap = {cluster_->node(follower).client_address};
  auto connection = Connection::Create(only_follower);
  ASSERT_TRUE(connection.ok());
  auto producer = Producer::Create(*connection);
  ASSERT_TRUE(producer.ok());
  auto first = (*producer)->Send("routed", Rec("", "a")).get();
  ASSERT_TRUE(first.ok()) << first.status();

  // Move leadership; the producer's cache now names the old leader, whose NotLeader points to the new one.
  auto moved = admin_->TransferLeadership("routed", 0, follower);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->leader_id(), follower);
  auto second = (*producer)->Send("routed", Rec("", "b")).get();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->offset, first->offset + 1);
}

TEST_F(ClientLibraryTest, PermanentErrorsFailFastWithoutRetry) {
  CreateTopic("strict", 1);
  auto producer = Producer::Create(connection_);
  ASSERT_TRUE(producer.ok());
  const auto start = Clock::now();
  auto unknown = (*producer)->Send("no-such-topic", Rec("", "x")).get();
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();
  auto bad_partition = (*producer)->Send("strict", Rec("", "x"), 7u).get();
  EXPECT_EQ(bad_partition.status().code(), absl::StatusCode::kNotFound) << bad_partition.status();
  auto huge = (*producer)->Send("strict", Rec("", std::string(2 * 1024 * 1024, 'x'))).get();
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument) << huge.status();
  EXPECT_LT(Clock::now() - start, seconds(10)) << "permanent errors must not be retried until the deadline";
  auto fine = (*producer)->Send("strict", Rec("", "ok")).get();
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->offset, 0u);

  auto consumer = Consumer::Create(connection_);
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ((*consumer)->Assign("no-such-topic").code(), absl::StatusCode::kNotFound);
  auto created_twice = admin_->CreateTopic("strict", 1);
  EXPECT_EQ(created_twice.status().code(), absl::StatusCode::kAlreadyExists);
  auto bad_name = admin_->CreateTopic("bad name!", 1);
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace brook::client::testing
