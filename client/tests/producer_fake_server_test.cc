// The producer's retry and ordering logic, and the consumer's gap handling, against an in-process fake partition
// leader that keeps Brook's idempotence rules (sequence gaps rejected, recent batches deduplicated) and fails
// calls on a script. Loopback only, no brookd: runs with the unit tests.
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "client/lib/consumer.h"
#include "client/lib/producer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace brook::client {
namespace {

// What the fake does with the next Produce calls, in order.
enum class Fault {
  kNone,
  kUnavailableBeforeApply,  // nothing written, UNAVAILABLE
  kLoseAnswer,              // written, but the client sees UNAVAILABLE
  kCancelAnswer,            // written, but the client sees CANCELLED (a server shutting down cancels its calls)
  kInternalAnswer,          // written, but the client sees INTERNAL without details (an outcome it cannot know)
  kInvalid,                 // nothing written, INVALID_ARGUMENT
  kNotLeader,               // nothing written, NotLeader naming `redirect_`
  kNotWrittenRetryLater,    // nothing written: UNAVAILABLE, WriteOutcome NOT_WRITTEN, RetryInfo 990 ms
  kNotWrittenSlowly,        // nothing written: UNAVAILABLE, WriteOutcome NOT_WRITTEN, answered after 40 ms
};

grpc::Status WithDetails(grpc::StatusCode code, const std::string& message,
                         std::initializer_list<const google::protobuf::Message*> details) {
  v1::ErrorStatus es;
  es.set_code(code);
  es.set_message(message);
  for (const google::protobuf::Message* d : details) es.add_details()->PackFrom(*d);
  return grpc::Status(code, message, es.SerializeAsString());
}

grpc::Status WithDetail(grpc::StatusCode code, const std::string& message, const google::protobuf::Message& d) {
  return WithDetails(code, message, {&d});
}

// One partition ("t"/0) of a fake node. Thread-safe (gRPC calls handlers on many threads).
class FakeNode final : public v1::Log::Service, public v1::Admin::Service {
 public:
  FakeNode(uint64_t id) : id_(id) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(static_cast<v1::Log::Service*>(this));
    b.RegisterService(static_cast<v1::Admin::Service*>(this));
    server_ = b.BuildAndStart();
  }
  ~FakeNode() override { server_->Shutdown(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Script(std::vector<Fault> faults) {
    absl::MutexLock l(&mu_);
    faults_.assign(faults.begin(), faults.end());
  }
  // The first request whose batch starts at `sequence` is refused with INVALID_ARGUMENT (calls may arrive out of
  // order, so this is keyed by sequence rather than by call).
  void RefuseSequenceOnce(uint64_t sequence) {
    absl::MutexLock l(&mu_);
    refuse_sequence_ = sequence;
  }
  void SetLeader(uint64_t leader_id, std::string leader_address) {
    absl::MutexLock l(&mu_);
    leader_id_ = leader_id;
    leader_address_ = std::move(leader_address);
  }
  std::vector<std::string> log() {
    absl::MutexLock l(&mu_);
    return log_;
  }
  int calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  // (producer id, sequence) of every Produce call, in arrival order.
  std::vector<std::pair<uint64_t, uint64_t>> requests() {
    absl::MutexLock l(&mu_);
    return requests_;
  }

  grpc::Status GetMetadata(grpc::ServerContext*, const v1::GetMetadataRequest*,
                           v1::GetMetadataResponse* r) override {
    absl::MutexLock l(&mu_);
    auto* n = r->add_nodes();
    n->set_id(leader_id_);
    n->set_client_address(leader_address_);
    auto* t = r->add_topics();
    t->set_name("t");
    t->set_partition_count(1);
    auto* p = t->add_partitions();
    p->set_leader_id(leader_id_);
    p->set_leader_term(1);
    return grpc::Status::OK;
  }

  // Records below `offset` are gone, as if retention had trimmed them.
  void TrimTo(uint64_t offset) {
    absl::MutexLock l(&mu_);
    log_start_ = offset;
  }

  grpc::Status ListOffsets(grpc::ServerContext*, const v1::ListOffsetsRequest* req,
                           v1::ListOffsetsResponse* resp) override {
    absl::MutexLock l(&mu_);
    resp->set_offset(req->spec() == v1::ListOffsetsRequest::EARLIEST ? log_start_ : log_.size());
    resp->set_high_watermark(log_.size());
    resp->set_log_start_offset(log_start_);
    return grpc::Status::OK;
  }

  grpc::Status Fetch(grpc::ServerContext*, const v1::FetchRequest* req, v1::FetchResponse* resp) override {
    absl::MutexLock l(&mu_);
    resp->set_high_watermark(log_.size());
    resp->set_log_start_offset(log_start_);
    if (req->offset() < log_start_) {
      resp->mutable_gap()->set_reason(v1::Gap::TRIMMED);
      resp->mutable_gap()->set_start_offset(req->offset());
      resp->mutable_gap()->set_end_offset(log_start_);
      resp->set_next_offset(log_start_);
      return grpc::Status::OK;
    }
    uint64_t o = req->offset();
    for (; o < log_.size(); ++o) {
      auto* r = resp->add_records();
      r->set_offset(o);
      r->set_value(log_[o]);
    }
    resp->set_next_offset(o);
    return grpc::Status::OK;
  }

  // The answer to a call whose batch was written (or deduplicated).
  static grpc::Status Answer(Fault fault) {
    if (fault == Fault::kLoseAnswer) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "lost");
    if (fault == Fault::kCancelAnswer) return grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
    if (fault == Fault::kInternalAnswer) return grpc::Status(grpc::StatusCode::INTERNAL, "scripted");
    return grpc::Status::OK;
  }

  grpc::Status Produce(grpc::ServerContext*, const v1::ProduceRequest* req, v1::ProduceResponse* resp) override {
    absl::MutexLock l(&mu_);
    ++calls_;
    requests_.emplace_back(req->producer_id(), req->sequence());
    Fault fault = Fault::kNone;
    if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
    if (fault == Fault::kNotWrittenRetryLater || fault == Fault::kNotWrittenSlowly) {
      v1::WriteOutcome outcome;
      outcome.set_outcome(v1::WriteOutcome::NOT_WRITTEN);
      if (fault == Fault::kNotWrittenSlowly) {
        mu_.Unlock();
        absl::SleepFor(absl::Milliseconds(40));
        mu_.Lock();
        return WithDetail(grpc::StatusCode::UNAVAILABLE, "scripted", outcome);
      }
      v1::RetryInfo retry;
      retry.set_retry_delay_ms(990);
      return WithDetails(grpc::StatusCode::UNAVAILABLE, "scripted", {&outcome, &retry});
    }
    if (fault == Fault::kUnavailableBeforeApply) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted");
    if (fault == Fault::kInvalid) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "scripted");
    if (refuse_sequence_ && *refuse_sequence_ == req->sequence()) {
      refuse_sequence_.reset();
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "scripted refusal");
    }
    if (fault == Fault::kNotLeader) {
      v1::NotLeader nl;
      nl.set_topic("t");
      nl.set_leader_id(leader_id_);
      nl.set_leader_address(leader_address_);
      nl.set_term(2);
      return WithDetail(grpc::StatusCode::UNAVAILABLE, "not the leader", nl);
    }
    // Idempotence as docs/decisions.md D7 describes it, per producer id; an unknown producer may start at any
    // sequence.
    auto& window = windows_[req->producer_id()];
    uint64_t& expected = expected_[req->producer_id()];
    if (window.empty()) expected = req->sequence();
    for (const auto& [seq, base, count] : window) {
      if (seq == req->sequence() && count == static_cast<uint64_t>(req->records_size())) {
        resp->set_base_offset(base);
        resp->set_record_count(static_cast<uint32_t>(count));
        resp->set_duplicate(true);
        return Answer(fault);
      }
    }
    if (req->sequence() != expected) {
      v1::SequenceError se;
      se.set_producer_id(req->producer_id());
      se.set_expected_sequence(expected);
      se.set_received_sequence(req->sequence());
      return WithDetail(grpc::StatusCode::FAILED_PRECONDITION, "sequence gap", se);
    }
    const uint64_t base = log_.size();
    for (const auto& r : req->records()) log_.push_back(r.value());
    window.push_back({req->sequence(), base, static_cast<uint64_t>(req->records_size())});
    if (window.size() > 16) window.pop_front();
    expected += static_cast<uint64_t>(req->records_size());
    resp->set_base_offset(base);
    resp->set_record_count(static_cast<uint32_t>(req->records_size()));
    return Answer(fault);
  }

 private:
  struct Batch {
    uint64_t sequence, base, count;
  };
  const uint64_t id_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::deque<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::deque<Batch>> windows_ ABSL_GUARDED_BY(mu_);  // producer id -> its recent batches
  std::map<uint64_t, uint64_t> expected_ ABSL_GUARDED_BY(mu_);          // producer id -> its next sequence
  uint64_t leader_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::string leader_address_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<uint64_t, uint64_t>> requests_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> refuse_sequence_ ABSL_GUARDED_BY(mu_);
  uint64_t log_start_ ABSL_GUARDED_BY(mu_) = 0;
};

std::shared_ptr<Connection> Connect(const std::string& address) {
  ClientOptions o;
  o.bootstrap = {address};
  o.request_timeout = std::chrono::milliseconds(2000);
  o.backoff = BackoffOptions{std::chrono::milliseconds(1), std::chrono::milliseconds(10), 2.0, 0.5};
  return *Connection::Create(o);
}

// Sends `n` records valued "0".."n-1" in batches of 5 with up to 5 in flight; returns their offsets.
std::vector<absl::StatusOr<RecordMetadata>> SendAll(std::shared_ptr<Connection> c, int n) {
  ProducerOptions o;
  o.batch.max_batch_records = 5;
  o.batch.linger = std::chrono::milliseconds(1);
  o.max_in_flight_per_partition = 5;
  o.delivery_timeout = std::chrono::milliseconds(10000);
  auto producer = *Producer::Create(std::move(c), o);
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> futures;
  for (int i = 0; i < n; ++i) {
    v1::Record r;
    r.set_value(absl::StrCat(i));
    futures.push_back(producer->Send("t", std::move(r)));
  }
  producer->Close();
  std::vector<absl::StatusOr<RecordMetadata>> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

void ExpectLogIsZeroToN(const std::vector<std::string>& log, int n) {
  ASSERT_EQ(log.size(), static_cast<size_t>(n)) << "records lost or written twice";
  for (int i = 0; i < n; ++i) EXPECT_EQ(log[i], absl::StrCat(i)) << "offset " << i;
}

// A leader that faults the calls of `script` (in order): every one of `n` records is acknowledged at its offset
// and written exactly once.
void ExpectEveryRecordOnceInOrder(std::vector<Fault> script, int n) {
  FakeNode node(1);
  node.SetLeader(1, node.address());
  node.Script(std::move(script));
  auto acks = SendAll(Connect(node.address()), n);
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(acks[i].ok()) << i << ": " << acks[i].status();
    EXPECT_EQ(acks[i]->offset, static_cast<uint64_t>(i));
  }
  ExpectLogIsZeroToN(node.log(), n);
}

TEST(ProducerAgainstFakeLeader, FailuresBeforeApplyAreResentInOrder) {
  ExpectEveryRecordOnceInOrder(
      {Fault::kNone, Fault::kUnavailableBeforeApply, Fault::kNone, Fault::kUnavailableBeforeApply}, 100);
}

TEST(ProducerAgainstFakeLeader, LostAnswersAreDeduplicatedNotRewritten) {
  ExpectEveryRecordOnceInOrder({Fault::kLoseAnswer, Fault::kLoseAnswer, Fault::kNone, Fault::kLoseAnswer}, 60);
}

// CANCELLED from the server (gRPC cancels the calls a shutting-down server has not answered) says nothing about
// whether the batch was written: resent under the same sequence, never counted as "not written".
TEST(ProducerAgainstFakeLeader, CancelledCallsAreResentNotSkipped) {
  ExpectEveryRecordOnceInOrder({Fault::kCancelAnswer, Fault::kNone, Fault::kCancelAnswer, Fault::kCancelAnswer},
                               60);
}

// INTERNAL without a WriteOutcome NOT_WRITTEN says nothing about whether the batch was written (here it was): the
// batch fails, and its sequence must never go to other records, which the partition would answer as the failed
// batch's duplicates (with its offsets) and drop. Every record acknowledged is where its acknowledgement says.
TEST(ProducerAgainstFakeLeader, AnUnknownOutcomeNeverHandsItsSequenceToOtherRecords) {
  FakeNode node(1);
  node.SetLeader(1, node.address());
  node.Script({Fault::kInternalAnswer});
  auto acks = SendAll(Connect(node.address()), 40);
  const auto log = node.log();
  int failed = 0;
  for (int i = 0; i < 40; ++i) {
    if (!acks[i].ok()) {
      ++failed;
      continue;
    }
    ASSERT_LT(acks[i]->offset, log.size()) << i;
    EXPECT_EQ(log[acks[i]->offset], absl::StrCat(i))
        << "record " << i << " was acknowledged at offset " << acks[i]->offset << ", which holds another record";
  }
  EXPECT_GE(failed, 1) << "the batch answered INTERNAL fails (how many records it holds depends on batching)";
  EXPECT_LE(log.size(), 40u) << "nothing written twice";
}

TEST(ProducerAgainstFakeLeader, RejectedBatchFailsAndTheRestCloseTheGap) {
  FakeNode node(1);
  node.SetLeader(1, node.address());
  node.RefuseSequenceOnce(5);  // the second batch (records 5..9) is refused for good
  auto acks = SendAll(Connect(node.address()), 40);
  int failed = 0;
  for (const auto& a : acks) {
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
      ++failed;
    }
  }
  EXPECT_EQ(failed, 5) << "exactly the refused batch fails";
  const auto log = node.log();
  ASSERT_EQ(log.size(), 35u);
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i], absl::StrCat(i < 5 ? i : i + 5)) << "the rest arrive in order without a hole";
  }
}

// RetryInfo asks for a wait that ends 10 ms before the delivery timeout, and every later answer takes 40 ms. A
// resend started after that wait would time out on the client and turn "not written" into "may still be written",
// costing the partition its producer id. The resend is moved up to leave it time; the batch then fails as not
// written, and the next record takes its sequence under the same producer id.
TEST(ProducerAgainstFakeLeader, NoResendStartsWithTooLittleOfTheDeliveryTimeoutLeft) {
  FakeNode node(1);
  node.SetLeader(1, node.address());
  std::vector<Fault> script(11, Fault::kNotWrittenSlowly);
  script[0] = Fault::kNotWrittenRetryLater;
  node.Script(script);
  ProducerOptions o;
  o.batch.linger = std::chrono::milliseconds(0);
  o.delivery_timeout = std::chrono::milliseconds(1000);
  auto producer = *Producer::Create(Connect(node.address()), o);
  v1::Record r;
  r.set_value("0");
  const absl::StatusOr<RecordMetadata> first = producer->Send("t", r).get();
  ASSERT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded) << first.status();
  EXPECT_NE(first.status().message().find("it was not written"), absl::string_view::npos) << first.status();
  ASSERT_EQ(node.calls(), 2) << "one resend, in time to hear its answer";
  node.Script({});
  const absl::StatusOr<RecordMetadata> second = producer->Send("t", r).get();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->offset, 0u);
  const auto requests = node.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2], requests[0]) << "the same producer id and sequence: the first record was not written";
  producer->Close();
}

TEST(ProducerAgainstFakeLeader, FollowsTheLeaderNamedByNotLeader) {
  FakeNode old_leader(1), new_leader(2);
  new_leader.SetLeader(2, new_leader.address());
  old_leader.SetLeader(1, old_leader.address());
  auto connection = Connect(old_leader.address());
  ASSERT_TRUE(connection->Topic("t", Clock::now() + std::chrono::seconds(2)).ok());  // caches node 1 as leader
  old_leader.SetLeader(2, new_leader.address());
  old_leader.Script(std::vector<Fault>(100, Fault::kNotLeader));
  const auto start = Clock::now();
  auto acks = SendAll(connection, 20);
  for (const auto& a : acks) ASSERT_TRUE(a.ok()) << a.status();
  ExpectLogIsZeroToN(new_leader.log(), 20);
  EXPECT_TRUE(old_leader.log().empty());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST(ConsumerAgainstFakeLeader, TrimmedRecordsAreReportedAsAGapAndSkipped) {
  FakeNode node(1);
  node.SetLeader(1, node.address());
  auto connection = Connect(node.address());
  auto acks = SendAll(connection, 20);
  for (const auto& a : acks) ASSERT_TRUE(a.ok()) << a.status();
  node.TrimTo(10);
  auto consumer = *Consumer::Create(connection);
  ASSERT_TRUE(consumer->Assign("t").ok());
  EXPECT_EQ(consumer->Position(0), 20u) << "Assign starts at the latest offset";
  ASSERT_TRUE(consumer->Seek(0, 0).ok());
  std::vector<GapEvent> gaps;
  std::vector<uint64_t> offsets;
  for (int polls = 0; polls < 10 && offsets.size() < 10; ++polls) {
    auto result = consumer->Poll(std::chrono::milliseconds(200));
    ASSERT_TRUE(result.ok()) << result.status();
    gaps.insert(gaps.end(), result->gaps.begin(), result->gaps.end());
    for (const auto& r : result->records) offsets.push_back(r.record.offset());
  }
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].gap.start_offset(), 0u);
  EXPECT_EQ(gaps[0].gap.end_offset(), 10u);
  ASSERT_EQ(offsets.size(), 10u);
  for (size_t i = 0; i < offsets.size(); ++i) EXPECT_EQ(offsets[i], 10 + i);
  EXPECT_EQ(consumer->Position(0), 20u);
  ASSERT_TRUE(consumer->Seek(OffsetSpec::kEarliest).ok());
  EXPECT_EQ(consumer->Position(0), 10u);
}

}  // namespace
}  // namespace brook::client
