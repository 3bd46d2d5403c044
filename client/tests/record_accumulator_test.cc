#include "client/lib/record_accumulator.h"

#include <vector>

#include "gtest/gtest.h"

namespace brook::client {
namespace {

using std::chrono::milliseconds;

v1::Record Rec(size_t value_bytes, std::string key = "") {
  v1::Record r;
  r.set_key(std::move(key));
  r.set_value(std::string(value_bytes, 'v'));
  return r;
}

SendCallback Ignore() {
  return [](absl::StatusOr<RecordMetadata>) {};
}

const TopicPartition kP0{"t", 0};
const TopicPartition kP1{"t", 1};

TEST(RecordAccumulator, OpenBatchWaitsForLinger) {
  RecordAccumulator acc({1000, 100, milliseconds(5)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  acc.Append(kP0, Rec(10), Ignore(), t0);
  EXPECT_FALSE(acc.HasReady(kP0, t0 + milliseconds(4), false)) << "lingering";
  EXPECT_TRUE(acc.HasReady(kP0, t0 + milliseconds(5), false)) << "linger is over";
  EXPECT_EQ(acc.ReadyTime(kP0), t0 + milliseconds(5));
}

TEST(RecordAccumulator, FlushSendsAnOpenBatchAtOnce) {
  RecordAccumulator acc({1000, 100, milliseconds(5)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  acc.Append(kP0, Rec(10), Ignore(), t0);
  auto b = acc.TakeReady(kP0, t0, /*flush=*/true);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->records.size(), 1u);
  EXPECT_TRUE(acc.empty());
  EXPECT_EQ(acc.buffered_bytes(), 0u);
}

TEST(RecordAccumulator, FullBatchIsReadyBeforeLinger) {
  RecordAccumulator acc({100, 1000, milliseconds(50)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  acc.Append(kP0, Rec(60), Ignore(), t0);
  acc.Append(kP0, Rec(60), Ignore(), t0);  // would exceed 100 bytes: closes the first batch
  EXPECT_TRUE(acc.HasReady(kP0, t0, false));
  auto first = acc.TakeReady(kP0, t0, false);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->records.size(), 1u);
  EXPECT_FALSE(acc.HasReady(kP0, t0, false)) << "the second batch still lingers";
  EXPECT_EQ(acc.buffered_records(), 1u);
}

TEST(RecordAccumulator, RecordCountClosesBatch) {
  RecordAccumulator acc({1 << 20, 3, milliseconds(50)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  for (int i = 0; i < 7; ++i) acc.Append(kP0, Rec(1), Ignore(), t0);
  std::vector<size_t> sizes;
  while (auto b = acc.TakeReady(kP0, t0, false)) sizes.push_back(b->records.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{3, 3})) << "two full batches; the seventh record lingers";
  EXPECT_EQ(acc.buffered_records(), 1u);
}

TEST(RecordAccumulator, PartitionsBatchSeparatelyAndKeepOrder) {
  RecordAccumulator acc({1 << 20, 100, milliseconds(0)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  acc.Append(kP0, Rec(1, "a"), Ignore(), t0);
  acc.Append(kP1, Rec(1, "b"), Ignore(), t0);
  acc.Append(kP0, Rec(1, "c"), Ignore(), t0);
  EXPECT_EQ(acc.Partitions().size(), 2u);
  auto b0 = acc.TakeReady(kP0, t0, false);
  ASSERT_TRUE(b0.has_value());
  ASSERT_EQ(b0->records.size(), 2u);
  EXPECT_EQ(b0->records[0].key(), "a");
  EXPECT_EQ(b0->records[1].key(), "c");
  EXPECT_EQ(b0->callbacks.size(), 2u);
}

TEST(RecordAccumulator, OversizedRecordTravelsAlone) {
  RecordAccumulator acc({100, 100, milliseconds(50)});
  const auto t0 = Clock::time_point() + std::chrono::seconds(1);
  acc.Append(kP0, Rec(10), Ignore(), t0);
  acc.Append(kP0, Rec(500), Ignore(), t0);
  auto a = acc.TakeReady(kP0, t0, false);
  auto b = acc.TakeReady(kP0, t0, false);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->bytes, 10u);
  EXPECT_EQ(b->bytes, 500u);
}

TEST(RecordBytes, CountsKeyValueAndHeaders) {
  v1::Record r = Rec(10, "key");
  auto* h = r.add_headers();
  h->set_key("h");
  h->set_value("vv");
  EXPECT_EQ(RecordBytes(r), 16u);
}

}  // namespace
}  // namespace brook::client
