// Coalescing of concurrent plain Produces (docs/decisions.md A21, server/host/coalesce.h): the merged entry's
// bytes, each request's own answer, and across hosts what the log holds, in which order, and in how many entries.
#include "server/host/coalesce.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::Answer;
using testing::TestCluster;
using ProduceAnswer = std::shared_ptr<Answer<v1::ProduceResponse>>;

std::string PlainEntry(const std::vector<std::string>& values) {
  v1::ProduceRequest req;
  for (const auto& v : values) req.add_records()->set_value(v);
  return EncodeRecordBatch(req);
}

std::vector<std::string> ValuesOf(const internal::RecordBatch& batch) {
  std::vector<std::string> out;
  for (const auto& r : batch.records()) out.push_back(r.value());
  return out;
}

TEST(PendingBatch, MergedBodiesDecodeAsOneBatchOfEveryRecordInOrder) {
  PendingBatch batch;
  std::vector<uint64_t> bases(3, 999);
  std::vector<uint32_t> counts(3, 0);
  const std::vector<std::vector<std::string>> parts = {{"a"}, {"b", "c"}, {"d"}};
  for (size_t i = 0; i < parts.size(); ++i) {
    batch.Add(PlainEntry(parts[i]), static_cast<uint32_t>(parts[i].size()),
              [&, i](grpc::Status s, v1::ProduceResponse r) {
                ASSERT_TRUE(s.ok());
                bases[i] = r.base_offset();
                counts[i] = r.record_count();
              });
  }
  ASSERT_TRUE(batch.Seal().ok());
  ASSERT_TRUE(VerifyEntryData(batch.data).ok()) << "the merged CRC covers the merged body";
  auto decoded = DecodeRecordBatch(batch.data);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(ValuesOf(*decoded), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(batch.records, 4u);

  v1::ProduceResponse merged;
  merged.set_base_offset(100);
  merged.set_record_count(4);
  batch.FanOut()(grpc::Status::OK, merged);
  EXPECT_EQ(bases, (std::vector<uint64_t>{100, 101, 103}));
  EXPECT_EQ(counts, (std::vector<uint32_t>{1, 2, 1}));
}

TEST(PendingBatch, ABodyDamagedAfterTheMergeCopyIsRefusedNotSealed) {
  PendingBatch batch;
  int answered = 0;
  auto done = [&](grpc::Status, v1::ProduceResponse) { ++answered; };
  batch.Add(PlainEntry({"first"}), 1, done);
  batch.Add(PlainEntry({"second"}), 1, done);
  batch.data.back() ^= 0x01;  // the second part's last byte
  const absl::Status s = batch.Seal();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("1 of 2"), std::string_view::npos) << s.message();
  batch.Fail(grpc::Status(grpc::StatusCode::INTERNAL, "x"));
  EXPECT_EQ(answered, 2);
}

TEST(PendingBatch, ABatchNeverOutgrowsWhatOneProduceMayHold) {
  ProduceCoalescer coalescer;
  auto done = [](grpc::Status, v1::ProduceResponse) {};
  const std::vector<std::string> half(Limits::kMaxBatchRecords / 2, "v");
  EXPECT_FALSE(coalescer.Add(7, PlainEntry(half), static_cast<uint32_t>(half.size()), done));
  EXPECT_FALSE(coalescer.Add(7, PlainEntry(half), static_cast<uint32_t>(half.size()), done));
  auto full = coalescer.Add(7, PlainEntry({"one more"}), 1, done);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->records, Limits::kMaxBatchRecords);
  EXPECT_FALSE(coalescer.Add(8, PlainEntry({"other partition"}), 1, done)) << "partitions are merged apart";
  auto all = coalescer.TakeAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[7].records, 1u);
  EXPECT_TRUE(coalescer.empty());
}

class CoalesceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.CreateTopic("orders", 1, 3).ok());
    leader_ = cluster_.WaitForLeader("orders", 0);
    ASSERT_NE(leader_, 0u);
  }
  void Wait(const std::vector<ProduceAnswer>& answers) {
    ASSERT_TRUE(cluster_.RunUntil([&] {
      for (const auto& a : answers) {
        if (a->times == 0) return false;
      }
      return true;
    }));
    for (const auto& a : answers) {
      EXPECT_EQ(a->times, 1);
      EXPECT_TRUE(a->status.ok()) << a->status.error_message();
    }
  }

  TestCluster cluster_{3};
  uint64_t leader_ = 0;
};

TEST_F(CoalesceTest, PlainProducesOfOneTurnShareOneEntryEachWithItsOwnOffsets) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"before"}).status.ok());
  std::vector<ProduceAnswer> answers;
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"a"}));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"b", "c", "d"}));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"e", "f"}));
  Wait(answers);
  const uint64_t index = answers[0]->response.receipt().raft_index();
  uint64_t next = 1;
  for (const auto& a : answers) {
    EXPECT_EQ(a->response.base_offset(), next) << "dense, in arrival order";
    next += a->response.record_count();
    EXPECT_EQ(a->response.receipt().raft_index(), index) << "one entry";
    EXPECT_FALSE(a->response.duplicate());
  }
  EXPECT_EQ(answers[1]->response.record_count(), 3u);
  auto after = cluster_.ProduceAndWait(leader_, "orders", 0, {"g"});
  ASSERT_TRUE(after.status.ok());
  EXPECT_EQ(after.response.receipt().raft_index(), index + 1);
  EXPECT_EQ(after.response.base_offset(), 7u);
  const std::vector<std::string> want = {"before", "a", "b", "c", "d", "e", "f", "g"};
  cluster_.RunTicks(2);
  for (uint64_t n = 1; n <= 3; ++n) EXPECT_EQ(cluster_.ReadValues(n, "orders", 0), want) << "n" << n;
}

TEST_F(CoalesceTest, AConditionalAppendSeesThePlainProducesPostedBeforeIt) {
  std::vector<ProduceAnswer> answers;
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"a", "b"}));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"c"}, 0, 0, /*expected_offset=*/2));
  auto stale = cluster_.Produce(leader_, "orders", 0, {"x"}, 0, 0, /*expected_offset=*/0);
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"d"}));
  Wait(answers);
  ASSERT_TRUE(cluster_.RunUntil([&] { return stale->times > 0; }));
  EXPECT_EQ(stale->status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << stale->status.error_message();
  EXPECT_EQ(answers[1]->response.base_offset(), 2u);
  EXPECT_EQ(answers[2]->response.base_offset(), 3u);
  EXPECT_NE(answers[0]->response.receipt().raft_index(), answers[1]->response.receipt().raft_index());
  cluster_.RunTicks(2);
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST_F(CoalesceTest, IdempotentProducesAreNeverMergedAndArrivalOrderHolds) {
  std::vector<ProduceAnswer> answers;
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"p1"}));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"i1"}, /*producer_id=*/7, /*sequence=*/0));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"p2"}));
  answers.push_back(cluster_.Produce(leader_, "orders", 0, {"p3"}));
  Wait(answers);
  std::vector<uint64_t> offsets;
  for (const auto& a : answers) offsets.push_back(a->response.base_offset());
  EXPECT_EQ(offsets, (std::vector<uint64_t>{0, 1, 2, 3}));
  const auto index = [&](int i) { return answers[i]->response.receipt().raft_index(); };
  EXPECT_LT(index(0), index(1));
  EXPECT_LT(index(1), index(2));
  EXPECT_EQ(index(2), index(3)) << "the plain ones after it share an entry";
  // The idempotent batch is remembered alone: its retry is a duplicate with its own offset.
  auto retry = cluster_.ProduceAndWait(leader_, "orders", 0, {"i1"}, 7, 0);
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.response.duplicate());
  EXPECT_EQ(retry.response.base_offset(), 1u);
}

TEST(Coalesce, TurnedOffEveryPlainProduceIsItsOwnEntry) {
  HostOptions options;
  options.coalesce_produces = false;
  TestCluster cluster(3, options);
  ASSERT_TRUE(cluster.CreateTopic("orders", 1, 3).ok());
  const uint64_t leader = cluster.WaitForLeader("orders", 0);
  ASSERT_NE(leader, 0u);
  auto a = cluster.Produce(leader, "orders", 0, {"a"});
  auto b = cluster.Produce(leader, "orders", 0, {"b"});
  ASSERT_TRUE(cluster.RunUntil([&] { return a->times > 0 && b->times > 0; }));
  ASSERT_TRUE(a->status.ok() && b->status.ok());
  EXPECT_EQ(b->response.receipt().raft_index(), a->response.receipt().raft_index() + 1);
}

}  // namespace
}  // namespace brook::server
