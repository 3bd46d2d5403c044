// The consumer against an in-process fake leader of two partitions that serves compressed batches: records of a
// batch are handed out from the position on (a batch served from its middle), a batch whose bytes fail their
// CRC-32C fails Poll with DATA_LOSS without moving the position, and records another partition gave in the same
// round are handed out first, not dropped. In plain mode it serves two plain records per Fetch, slowly for a
// chosen partition: a partition known to have records waiting is read without a long-poll and never cancelled.
// Loopback only, no brookd: runs with the unit tests.
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "client/lib/compression.h"
#include "client/lib/consumer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace brook::client {
namespace {

// Topic "t" with two partitions: each holds one compressed batch of `kRecords` records at offset 0.
constexpr uint32_t kRecords = 6;
// In plain mode each partition holds kPlainRecords plain records and a Fetch serves two of them.
constexpr uint32_t kPlainRecords = 40;

class FakeLeader final : public v1::Log::Service, public v1::Admin::Service {
 public:
  // plain: serve plain records, two per Fetch, instead of the compressed batch.
  explicit FakeLeader(bool plain = false) : plain_(plain) {
    v1::ProduceRequest req;
    for (uint32_t i = 0; i < kRecords; ++i) req.add_records()->set_value(absl::StrCat("v", i));
    auto sizes = CompressRequest(v1::COMPRESSION_ZSTD, &req);
    EXPECT_TRUE(sizes.ok());
    batch_.set_record_count(kRecords);
    batch_.set_compression(v1::COMPRESSION_ZSTD);
    batch_.set_data(req.compressed_records());
    batch_.set_crc32c(req.compressed_crc32c());
    batch_.set_uncompressed_bytes(static_cast<uint32_t>(sizes->uncompressed_bytes));
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(static_cast<v1::Log::Service*>(this));
    b.RegisterService(static_cast<v1::Admin::Service*>(this));
    server_ = b.BuildAndStart();
  }
  ~FakeLeader() override { server_->Shutdown(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  // Partition `p` serves its batch with one byte flipped (the CRC no longer matches).
  void Damage(uint32_t p) {
    absl::MutexLock l(&mu_);
    damaged_[p] = true;
  }
  int fetches_with_accept_compressed() {
    absl::MutexLock l(&mu_);
    return accepting_;
  }
  // Plain mode: partition `p` answers a Fetch that finds records only after `delay`.
  void Slow(uint32_t p, std::chrono::milliseconds delay) {
    absl::MutexLock l(&mu_);
    delay_[p] = delay;
  }
  struct Seen {
    int fetches = 0;
    // Answers with records to a Fetch asked without waiting (max_wait_ms 0) whose call the client had cancelled by
    // then. (A long-poll's answer may be cancelled: the consumer did not know it had records.)
    int cancelled_immediate = 0;
    int immediate = 0;   // Fetches with max_wait_ms 0
    int long_polls = 0;  // Fetches with max_wait_ms above 0
  };
  Seen seen(uint32_t p) {
    absl::MutexLock l(&mu_);
    return seen_[p];
  }

  grpc::Status GetMetadata(grpc::ServerContext*, const v1::GetMetadataRequest*,
                           v1::GetMetadataResponse* r) override {
    auto* n = r->add_nodes();
    n->set_id(1);
    n->set_client_address(address());
    auto* t = r->add_topics();
    t->set_name("t");
    t->set_partition_count(2);
    for (uint32_t p = 0; p < 2; ++p) {
      auto* info = t->add_partitions();
      info->set_partition(p);
      info->set_leader_id(1);
      info->set_leader_term(1);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListOffsets(grpc::ServerContext*, const v1::ListOffsetsRequest* req,
                           v1::ListOffsetsResponse* resp) override {
    resp->set_offset(req->spec() == v1::ListOffsetsRequest::EARLIEST ? 0 : kRecords);
    resp->set_high_watermark(kRecords);
    return grpc::Status::OK;
  }

  // The whole batch to any offset below its end (as brookd serves compressed batches); nothing at the end.
  grpc::Status Fetch(grpc::ServerContext* ctx, const v1::FetchRequest* req, v1::FetchResponse* resp) override {
    if (plain_) return FetchPlain(ctx, req, resp);
    absl::MutexLock l(&mu_);
    resp->set_high_watermark(kRecords);
    resp->set_next_offset(std::max<uint64_t>(req->offset(), kRecords));
    if (!req->accept_compressed())
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this fake only compresses");
    ++accepting_;
    if (req->offset() >= kRecords) return grpc::Status::OK;
    v1::CompressedBatch* b = resp->add_compressed_batches();
    *b = batch_;
    if (damaged_[req->partition()]) {
      std::string data = b->data();
      data[data.size() / 2] ^= 0x20;
      b->set_data(data);
    }
    return grpc::Status::OK;
  }

 private:
  grpc::Status FetchPlain(grpc::ServerContext* ctx, const v1::FetchRequest* req, v1::FetchResponse* resp) {
    std::chrono::milliseconds delay{0};
    {
      absl::MutexLock l(&mu_);
      seen_[req->partition()].fetches++;
      (req->max_wait_ms() == 0 ? seen_[req->partition()].immediate : seen_[req->partition()].long_polls)++;
      delay = delay_[req->partition()];
    }
    resp->set_high_watermark(kPlainRecords);
    const uint64_t end = std::min<uint64_t>(req->offset() + 2, kPlainRecords);
    for (uint64_t o = req->offset(); o < end; ++o) {
      auto* r = resp->add_records();
      r->set_offset(o);
      r->set_value(absl::StrCat("v", o));
    }
    resp->set_next_offset(std::max<uint64_t>(req->offset(), end));
    if (resp->records_size() == 0) {  // a short long-poll: nothing more ever comes
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint32_t>(req->max_wait_ms(), 50)));
      return grpc::Status::OK;
    }
    std::this_thread::sleep_for(delay);
    absl::MutexLock l(&mu_);
    if (ctx->IsCancelled() && req->max_wait_ms() == 0) seen_[req->partition()].cancelled_immediate++;
    return grpc::Status::OK;
  }

  const bool plain_;
  std::map<uint32_t, std::chrono::milliseconds> delay_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, Seen> seen_ ABSL_GUARDED_BY(mu_);
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  v1::CompressedBatch batch_;
  absl::Mutex mu_;
  std::map<uint32_t, bool> damaged_ ABSL_GUARDED_BY(mu_);
  int accepting_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<Consumer> ConsumerOf(const FakeLeader& leader) {
  ClientOptions o;
  o.bootstrap = {leader.address()};
  o.request_timeout = std::chrono::milliseconds(2000);
  auto consumer = *Consumer::Create(*Connection::Create(o));
  EXPECT_TRUE(consumer->Assign("t").ok());
  return consumer;
}

TEST(ConsumerAgainstFakeLeader, RecordsOfACompressedBatchAreHandedOutFromThePosition) {
  FakeLeader leader;
  auto consumer = ConsumerOf(leader);
  ASSERT_TRUE(consumer->Seek(0, 4).ok());
  ASSERT_TRUE(consumer->Seek(1, 0).ok());
  std::map<uint32_t, std::vector<uint64_t>> offsets;
  for (int polls = 0; polls < 10 && offsets[0].size() + offsets[1].size() < 8; ++polls) {
    auto result = consumer->Poll(std::chrono::milliseconds(200));
    ASSERT_TRUE(result.ok()) << result.status();
    for (const auto& r : result->records) {
      offsets[r.partition].push_back(r.record.offset());
      EXPECT_EQ(r.record.value(), absl::StrCat("v", r.record.offset()));
    }
  }
  EXPECT_EQ(offsets[0], (std::vector<uint64_t>{4, 5})) << "the batch starts at 0; the position was 4";
  EXPECT_EQ(offsets[1], (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_GT(leader.fetches_with_accept_compressed(), 0);
}

TEST(ConsumerAgainstFakeLeader, ADamagedBatchIsDataLossAndNoRecordOfAnotherPartitionIsLost) {
  FakeLeader leader;
  leader.Damage(1);
  auto consumer = ConsumerOf(leader);
  ASSERT_TRUE(consumer->Seek(OffsetSpec::kEarliest).ok());
  std::vector<uint64_t> good;
  absl::Status failure;
  for (int polls = 0; polls < 20 && (failure.ok() || good.size() < kRecords); ++polls) {
    auto result = consumer->Poll(std::chrono::milliseconds(200));
    if (!result.ok()) {
      failure = result.status();
    } else {
      for (const auto& r : result->records) {
        EXPECT_EQ(r.partition, 0u) << "nothing of the damaged partition may be handed out";
        good.push_back(r.record.offset());
      }
    }
    // Both partitions answer in the same round when the race allows: partition 0's records must then come out
    // first rather than be consumed (position moved) and dropped with the round's error.
    ASSERT_EQ(consumer->Position(0), good.size()) << "records of partition 0 were consumed but not handed out";
    ASSERT_EQ(consumer->Position(1), 0u) << "the position stays before the damaged batch";
  }
  EXPECT_EQ(good, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(failure.code(), absl::StatusCode::kDataLoss) << failure;
  EXPECT_NE(failure.message().find("CRC-32C mismatch"), std::string::npos) << failure;
  auto again = consumer->Poll(std::chrono::milliseconds(200));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kDataLoss) << "the next Poll meets it again";
}

TEST(ConsumerAgainstFakeLeader, APartitionKnownToHaveRecordsIsReadWithoutWaitingAndNeverCancelled) {
  FakeLeader leader(/*plain=*/true);
  auto consumer = ConsumerOf(leader);
  ASSERT_TRUE(consumer->Seek(OffsetSpec::kEarliest).ok());
  // Until both partitions have answered once, the consumer does not know they have more: it long-polls both, and
  // the one that answers second may be cancelled.
  for (int polls = 0; polls < 20 && (consumer->Position(0) == 0u || consumer->Position(1) == 0u); ++polls) {
    ASSERT_TRUE(consumer->Poll(std::chrono::milliseconds(200)).ok());
  }
  const uint64_t at0 = *consumer->Position(0);
  const uint64_t at1 = *consumer->Position(1);
  ASSERT_GT(at0, 0u);
  ASSERT_GT(at1, 0u);
  ASSERT_LT(at0 + 2, kPlainRecords);
  // Both answers named a high watermark of kPlainRecords: the next Poll reads both at once and waits for the slow
  // one.
  leader.Slow(1, std::chrono::milliseconds(300));
  const FakeLeader::Seen before0 = leader.seen(0);
  const FakeLeader::Seen before1 = leader.seen(1);
  auto result = consumer->Poll(std::chrono::milliseconds(2000));
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<uint32_t, std::vector<uint64_t>> offsets;
  for (const auto& r : result->records) offsets[r.partition].push_back(r.record.offset());
  EXPECT_EQ(offsets[0], (std::vector<uint64_t>{at0, at0 + 1}));
  EXPECT_EQ(offsets[1], (std::vector<uint64_t>{at1, at1 + 1})) << "the slow partition's records were cancelled";
  EXPECT_EQ(leader.seen(0).immediate, before0.immediate + 1) << "asked without waiting";
  EXPECT_EQ(leader.seen(1).immediate, before1.immediate + 1) << "asked without waiting";
  EXPECT_EQ(leader.seen(0).cancelled_immediate, 0);
  EXPECT_EQ(leader.seen(1).cancelled_immediate, 0);
  // At the end, with nothing known to be waiting, a Poll long-polls again.
  leader.Slow(1, std::chrono::milliseconds(0));
  for (int polls = 0;
       polls < 100 && (consumer->Position(0) < kPlainRecords || consumer->Position(1) < kPlainRecords); ++polls) {
    ASSERT_TRUE(consumer->Poll(std::chrono::milliseconds(2000)).ok());
  }
  const FakeLeader::Seen end0 = leader.seen(0);
  const FakeLeader::Seen end1 = leader.seen(1);
  ASSERT_TRUE(consumer->Poll(std::chrono::milliseconds(300)).ok());
  EXPECT_GT(leader.seen(0).long_polls, end0.long_polls);
  EXPECT_GT(leader.seen(1).long_polls, end1.long_polls);
}

}  // namespace
}  // namespace brook::client
