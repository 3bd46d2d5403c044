// Scenarios of the host, in process: three (or one) hosts on real RocksDB stores, an in-process network and a
// manual clock (server/host/testing/test_cluster.h). Each test drives the cluster like a client would and checks
// what every caller was answered, how many times, and what the log holds.
#include "server/host/host.h"

#include <memory>
#include <string>
#include <vector>

#include "brook/v1/errors.pb.h"
#include "gtest/gtest.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::Answer;
using testing::TestCluster;

// The detail of type T in a status's brook.v1.ErrorStatus, if any.
template <typename T>
std::optional<T> Detail(const grpc::Status& s) {
  v1::ErrorStatus status;
  if (!status.ParseFromString(s.error_details())) return std::nullopt;
  for (const auto& any : status.details()) {
    T out;
    if (any.UnpackTo(&out)) return out;
  }
  return std::nullopt;
}

// The WriteOutcome a status carries.
v1::WriteOutcome::Outcome OutcomeOf(const grpc::Status& s) {
  auto o = Detail<v1::WriteOutcome>(s);
  return o ? o->outcome() : v1::WriteOutcome::OUTCOME_UNSPECIFIED;
}

std::vector<std::string> Values(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.CreateTopic("orders", 1, 3).ok());
    leader_ = cluster_.WaitForLeader("orders", 0);
    ASSERT_NE(leader_, 0u);
  }
  uint64_t Follower() const { return leader_ == 1 ? 2 : 1; }

  TestCluster cluster_{3};
  uint64_t leader_ = 0;
};

TEST_F(HostTest, ProduceIsAnsweredWithDenseOffsetsAndAMajorityReceipt) {
  auto first = cluster_.ProduceAndWait(leader_, "orders", 0, Values("a", 3));
  ASSERT_EQ(first.times, 1);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.response.base_offset(), 0u);
  EXPECT_EQ(first.response.record_count(), 3u);
  EXPECT_FALSE(first.response.duplicate());
  EXPECT_GE(first.response.receipt().synced_replicas(), 2u) << "acknowledged only once a majority holds it";
  EXPECT_EQ(first.response.receipt().replicas(), 3u);
  EXPECT_GT(first.response.receipt().term(), 0u);

  auto second = cluster_.ProduceAndWait(leader_, "orders", 0, Values("b", 2));
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.response.base_offset(), 3u);
  EXPECT_GT(second.response.receipt().raft_index(), first.response.receipt().raft_index());
  cluster_.RunUntil([&] { return cluster_.View(Follower(), "orders", 0)->high_watermark() == 5; });
  EXPECT_EQ(cluster_.ReadValues(Follower(), "orders", 0),
            (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1"}));
}

TEST_F(HostTest, ProduceOnAFollowerNamesTheLeader) {
  auto answer = cluster_.ProduceAndWait(Follower(), "orders", 0, {"x"});
  ASSERT_EQ(answer.times, 1);
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto not_leader = Detail<v1::NotLeader>(answer.status);
  ASSERT_TRUE(not_leader.has_value()) << answer.status.error_message();
  EXPECT_EQ(not_leader->leader_id(), leader_);
  EXPECT_EQ(not_leader->leader_address(), "n" + std::to_string(leader_) + ":7101");
}

// Addresses reach the cluster's view only through the metadata group: the controller records what a member
// advertises on its own stream, every node then answers with that record, and a non-member's claim is never
// recorded.
TEST_F(HostTest, ANodesNewAddressReachesEveryNodeThroughTheMetadataGroupAndNonMembersAreIgnored) {
  for (uint64_t n = 1; n <= 3; ++n) {
    const auto& nodes = cluster_.host(n).cluster()->metadata.nodes();
    ASSERT_EQ(nodes.size(), 3u) << "node " << n << " is ready, so every member is recorded";
    EXPECT_EQ(nodes.at(2).client_address(), "n2:7101");
  }
  cluster_.Advertise(leader_, "moved:7101");
  cluster_.Advertise(99, "intruder:7101");
  ASSERT_TRUE(cluster_.RunUntil([&] {
    for (uint64_t n = 1; n <= 3; ++n) {
      if (cluster_.host(n).cluster()->ClientAddress(leader_) != "moved:7101") return false;
    }
    return true;
  }));
  auto answer = cluster_.ProduceAndWait(Follower(), "orders", 0, {"x"});
  auto not_leader = Detail<v1::NotLeader>(answer.status);
  ASSERT_TRUE(not_leader.has_value()) << answer.status.error_message();
  EXPECT_EQ(not_leader->leader_address(), "moved:7101") << "hints name the recorded address";
  cluster_.RunTicks(100);
  for (uint64_t n = 1; n <= 3; ++n) {
    EXPECT_FALSE(cluster_.host(n).cluster()->metadata.nodes().contains(99)) << "node " << n;
    EXPECT_EQ(cluster_.host(n).cluster()->ClientAddress(99), "");
  }
}

TEST_F(HostTest, RetryOfAWrittenBatchIsAnsweredWithItsOriginalOffsetsAndNotWrittenAgain) {
  auto first = cluster_.ProduceAndWait(leader_, "orders", 0, {"x", "y"}, /*producer_id=*/7, /*sequence=*/0);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  auto retry = cluster_.ProduceAndWait(leader_, "orders", 0, {"x", "y"}, 7, 0);
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_TRUE(retry.response.duplicate());
  EXPECT_EQ(retry.response.base_offset(), first.response.base_offset());
  EXPECT_EQ(retry.response.receipt().raft_index(), first.response.receipt().raft_index());
  auto next = cluster_.ProduceAndWait(leader_, "orders", 0, {"z"}, 7, 2);
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.response.base_offset(), 2u) << "the retry took no offsets";
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), (std::vector<std::string>{"x", "y", "z"}));
}

TEST_F(HostTest, SequenceGapIsRefusedWithTheExpectedSequence) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"x"}, 7, 0).status.ok());
  auto gap = cluster_.ProduceAndWait(leader_, "orders", 0, {"y"}, 7, 5);
  EXPECT_EQ(gap.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto detail = Detail<v1::SequenceError>(gap.status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->expected_sequence(), 1u);
  EXPECT_EQ(detail->received_sequence(), 5u);
}

TEST_F(HostTest, RetryWhileTheFirstIsInFlightIsAnsweredOnceWithTheSameOffsets) {
  auto first = cluster_.Produce(leader_, "orders", 0, {"x"}, 9, 0);
  auto retry = cluster_.Produce(leader_, "orders", 0, {"x"}, 9, 0);  // same turn: the first is not applied yet
  cluster_.RunUntil([&] { return first->times > 0 && retry->times > 0; });
  cluster_.RunTicks(5);
  ASSERT_EQ(first->times, 1);
  ASSERT_EQ(retry->times, 1);
  ASSERT_TRUE(first->status.ok()) << first->status.error_message();
  ASSERT_TRUE(retry->status.ok()) << retry->status.error_message();
  EXPECT_FALSE(first->response.duplicate());
  EXPECT_TRUE(retry->response.duplicate());
  EXPECT_EQ(retry->response.base_offset(), first->response.base_offset());
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), std::vector<std::string>{"x"});
}

TEST_F(HostTest, LeaderChangeFailsEveryPendingProposalOnceWithARetriableStatus) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"before"}).status.ok());
  cluster_.Isolate(leader_);  // the leader appends but cannot replicate: every proposal stays pending
  std::vector<std::shared_ptr<Answer<v1::ProduceResponse>>> pending;
  for (int i = 0; i < 5; ++i)
    pending.push_back(cluster_.Produce(leader_, "orders", 0, {"lost" + std::to_string(i)}));
  cluster_.RunTicks(3);
  for (const auto& a : pending) EXPECT_EQ(a->times, 0) << "nothing commits without a majority";
  // Check-quorum: the isolated leader steps down; the other two elect a leader.
  ASSERT_TRUE(cluster_.RunUntil([&] { return pending.back()->times > 0; }, 20000));
  cluster_.Heal();
  const uint64_t old_leader = leader_;
  const uint64_t new_leader = cluster_.WaitForLeader("orders", 0);
  ASSERT_NE(new_leader, 0u);
  ASSERT_TRUE(cluster_.ProduceAndWait(new_leader, "orders", 0, {"after"}).status.ok());
  cluster_.RunUntil([&] { return cluster_.View(old_leader, "orders", 0)->high_watermark() == 2; });
  cluster_.RunTicks(5);
  for (const auto& a : pending) {
    EXPECT_EQ(a->times, 1) << "answered exactly once";
    EXPECT_EQ(a->status.error_code(), grpc::StatusCode::UNAVAILABLE) << a->status.error_message();
    EXPECT_TRUE(Detail<v1::RetryInfo>(a->status).has_value()) << "retriable: " << a->status.error_message();
    EXPECT_EQ(OutcomeOf(a->status), v1::WriteOutcome::UNKNOWN) << "it was proposed: it may have been written";
  }
  EXPECT_EQ(cluster_.ReadValues(old_leader, "orders", 0), (std::vector<std::string>{"before", "after"}));
}

// A leader paused (SIGSTOP) right after proposing a batch: the followers acknowledge it (the acks queue for the
// paused leader), elect a new leader, and commit the batch. When the old leader resumes, one turn steps the acks
// (it commits the batch, still leading) and the new leader's messages (it steps down), then applies the batch. It
// answers "written", truthfully, but no longer leads: its receipt must still promise what it knows, a majority,
// not "0 of 3 synced" (what it reported before).
TEST_F(HostTest, ABatchAppliedByALeaderThatJustSteppedDownIsAnsweredWithAMajorityReceipt) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"before"}).status.ok());
  const uint64_t old_leader = leader_;
  const raft::GroupId group = cluster_.View(old_leader, "orders", 0)->group();
  const raft::Index before = cluster_.store(old_leader).LastIndex(group);
  auto answer = cluster_.Produce(old_leader, "orders", 0, {"committed-elsewhere"});
  // The round in which the leader proposes also delivers its appends to the followers.
  ASSERT_TRUE(cluster_.RunUntil([&] { return cluster_.store(old_leader).LastIndex(group) > before; }));
  cluster_.Pause(old_leader);
  uint64_t new_leader = 0;
  cluster_.RunUntil(
      [&] {
        for (uint64_t n = 1; n <= 3; ++n) {
          auto v = cluster_.View(n, "orders", 0);
          if (n != old_leader && v->leader() == n && v->high_watermark() == 2) new_leader = n;
        }
        return new_leader != 0;
      },
      20000);
  ASSERT_NE(new_leader, 0u) << "the other two commit the batch without the paused leader: " << [&] {
    std::string out;
    for (uint64_t n = 1; n <= 3; ++n) {
      auto v = cluster_.View(n, "orders", 0);
      out += " n" + std::to_string(n) + " leader " + std::to_string(v->leader()) + " hwm " +
             std::to_string(v->high_watermark());
    }
    return out;
  }();
  EXPECT_EQ(answer->times, 0);
  cluster_.Resume(old_leader);
  cluster_.RunUntil([&] { return answer->times > 0; });
  ASSERT_EQ(answer->times, 1);
  ASSERT_TRUE(answer->status.ok()) << answer->status.error_message();
  EXPECT_EQ(answer->response.base_offset(), 1u);
  EXPECT_GE(answer->response.receipt().synced_replicas(), 2u) << "committed means a majority had it";
  EXPECT_EQ(answer->response.receipt().replicas(), 3u);
  EXPECT_EQ(cluster_.ReadValues(new_leader, "orders", 0),
            (std::vector<std::string>{"before", "committed-elsewhere"}));
}

TEST_F(HostTest, ASequenceReusedForOtherRecordsIsRefusedAndNothingIsWritten) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"first"}, 5, 0).status.ok());
  auto reused = cluster_.ProduceAndWait(leader_, "orders", 0, {"second"}, 5, 0);
  ASSERT_EQ(reused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << reused.status.error_message();
  auto detail = Detail<v1::SequenceReused>(reused.status);
  ASSERT_TRUE(detail.has_value()) << reused.status.error_message();
  EXPECT_EQ(detail->original_base_offset(), 0u);
  auto retry = cluster_.ProduceAndWait(leader_, "orders", 0, {"first"}, 5, 0);
  ASSERT_TRUE(retry.status.ok());
  EXPECT_TRUE(retry.response.duplicate()) << "a true retry is still answered as one";
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), std::vector<std::string>{"first"});
}

TEST_F(HostTest, AProducerThePartitionDoesNotKnowMustStartAtSequenceZero) {
  auto late = cluster_.ProduceAndWait(leader_, "orders", 0, {"x"}, 77, 12);
  ASSERT_EQ(late.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto detail = Detail<v1::UnknownProducer>(late.status);
  ASSERT_TRUE(detail.has_value()) << late.status.error_message();
  EXPECT_EQ(detail->received_sequence(), 12u);
  EXPECT_TRUE(cluster_.ReadValues(leader_, "orders", 0).empty());
  EXPECT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"x"}, 77, 0).status.ok());
}

TEST_F(HostTest, ANewInstanceOfANamedProducerFencesTheOldOne) {
  auto first = cluster_.InitProducer("billing");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const uint64_t id = first.response.producer_id();
  EXPECT_NE(id & (uint64_t{1} << 63), 0u) << "assigned ids never meet the random ids clients draw";
  EXPECT_EQ(first.response.producer_epoch(), 0u);
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"a", "b"}, id, 0, std::nullopt, 0).status.ok());

  auto second = cluster_.InitProducer("billing");
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(second.response.producer_id(), id) << "the name keeps its id";
  EXPECT_EQ(second.response.producer_epoch(), 1u);
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"c"}, id, 0, std::nullopt, 1).status.ok());
  auto zombie = cluster_.ProduceAndWait(leader_, "orders", 0, {"zombie"}, id, 2, std::nullopt, 0);
  ASSERT_EQ(zombie.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto fenced = Detail<v1::ProducerFenced>(zombie.status);
  ASSERT_TRUE(fenced.has_value()) << zombie.status.error_message();
  EXPECT_EQ(fenced->current_epoch(), 1u);
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), (std::vector<std::string>{"a", "b", "c"}));

  auto other = cluster_.InitProducer("");
  ASSERT_TRUE(other.status.ok());
  EXPECT_NE(other.response.producer_id(), id) << "an anonymous producer gets a fresh id";
}

TEST_F(HostTest, ConditionalAppendWritesOnlyAtTheExpectedOffset) {
  auto first = cluster_.ProduceAndWait(leader_, "orders", 0, {"a"}, 0, 0, /*expected_offset=*/0);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  auto stale = cluster_.ProduceAndWait(leader_, "orders", 0, {"b"}, 0, 0, /*expected_offset=*/0);
  EXPECT_EQ(stale.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto mismatch = Detail<v1::OffsetMismatch>(stale.status);
  ASSERT_TRUE(mismatch.has_value()) << stale.status.error_message();
  EXPECT_EQ(mismatch->expected_offset(), 0u);
  EXPECT_EQ(mismatch->log_end_offset(), 1u);
  auto next = cluster_.ProduceAndWait(leader_, "orders", 0, {"c"}, 0, 0, /*expected_offset=*/1);
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(cluster_.ReadValues(leader_, "orders", 0), (std::vector<std::string>{"a", "c"}));
}

TEST_F(HostTest, ConditionalAppendCountsBatchesProposedButNotYetApplied) {
  auto first = cluster_.Produce(leader_, "orders", 0, {"a", "b"}, 0, 0, /*expected_offset=*/0);
  auto second = cluster_.Produce(leader_, "orders", 0, {"c"}, 0, 0, /*expected_offset=*/2);
  cluster_.RunUntil([&] { return first->times > 0 && second->times > 0; });
  ASSERT_TRUE(first->status.ok()) << first->status.error_message();
  ASSERT_TRUE(second->status.ok()) << second->status.error_message();
  EXPECT_EQ(second->response.base_offset(), 2u);
}

TEST(HostRetention, SizeRetentionTrimsTheLogPrefixOnEveryReplica) {
  HostOptions options;
  options.retention_interval = std::chrono::milliseconds(100);
  TestCluster cluster(3, options);
  v1::TopicConfig config;
  config.set_retention_bytes(2048);
  ASSERT_TRUE(cluster.CreateTopic("logs", 1, 3, config).ok());
  const uint64_t leader = cluster.WaitForLeader("logs", 0);
  const std::string value(256, 'v');
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(cluster.ProduceAndWait(leader, "logs", 0, {value}).status.ok());
  for (uint64_t node = 1; node <= 3; ++node) {
    EXPECT_TRUE(cluster.RunUntil([&] { return cluster.View(node, "logs", 0)->log_start_offset() > 0; }))
        << "node " << node << " kept its whole log";
    auto view = cluster.View(node, "logs", 0);
    EXPECT_LT(view->log_start_offset(), view->high_watermark()) << "the newest records stay";
    EXPECT_EQ(view->high_watermark(), 40u);
  }
  auto after = cluster.ProduceAndWait(leader, "logs", 0, {value});
  ASSERT_TRUE(after.status.ok());
  EXPECT_EQ(after.response.base_offset(), 40u) << "offsets never change when the prefix goes";
}

// Retention changed while the topic serves: every replica trims by the new limit from its next check, and the
// answer is the topic as changed. A node that is not the controller names it.
TEST(HostRetention, AlterTopicChangesRetentionOnEveryReplicaWhileTheTopicServes) {
  HostOptions options;
  options.retention_interval = std::chrono::milliseconds(100);
  TestCluster cluster(3, options);
  ASSERT_TRUE(cluster.CreateTopic("logs", 1, 3).ok());
  const uint64_t leader = cluster.WaitForLeader("logs", 0);
  const std::string value(256, 'v');
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(cluster.ProduceAndWait(leader, "logs", 0, {value}).status.ok());
  cluster.RunTicks(20);
  EXPECT_EQ(cluster.View(leader, "logs", 0)->log_start_offset(), 0u) << "no retention yet";

  v1::AlterTopicRequest req;
  req.set_name("logs");
  req.add_set("retention_bytes");
  req.mutable_config()->set_retention_bytes(2048);
  const uint64_t controller = cluster.WaitForController();
  auto on_follower = cluster.AlterTopic(req, controller == 1 ? 2 : 1);
  ASSERT_EQ(on_follower.times, 1);
  auto not_leader = Detail<v1::NotLeader>(on_follower.status);
  ASSERT_TRUE(not_leader.has_value()) << on_follower.status.error_message();
  EXPECT_EQ(not_leader->leader_id(), controller);

  auto altered = cluster.AlterTopic(req);
  ASSERT_TRUE(altered.status.ok()) << altered.status.error_message();
  EXPECT_EQ(altered.response.config().retention_bytes(), 2048u);
  for (uint64_t node = 1; node <= 3; ++node) {
    EXPECT_TRUE(cluster.RunUntil([&] { return cluster.View(node, "logs", 0)->log_start_offset() > 0; }))
        << "node " << node << " kept its whole log after the change";
    EXPECT_EQ(cluster.host(node).cluster()->metadata.topics().at("logs").config().retention_bytes(), 2048u);
  }

  req.set_expected_topic_id(altered.response.topic_id() + 1);
  auto stale = cluster.AlterTopic(req);
  EXPECT_EQ(stale.status.error_code(), grpc::StatusCode::NOT_FOUND) << stale.status.error_message();
  req.set_expected_topic_id(0);
  req.set_name("missing");
  EXPECT_EQ(cluster.AlterTopic(req).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HostTest, DeleteTopicWhileProducingAnswersEveryProduceOnceAndANewTopicStartsAtZero) {
  ASSERT_TRUE(cluster_.ProduceAndWait(leader_, "orders", 0, {"a"}).status.ok());
  std::vector<std::shared_ptr<Answer<v1::ProduceResponse>>> during;
  for (int i = 0; i < 3; ++i) during.push_back(cluster_.Produce(leader_, "orders", 0, {"d" + std::to_string(i)}));
  const uint64_t controller = cluster_.WaitForController();
  Answer<grpc::Status> deleted;
  cluster_.host(controller).DeleteTopic("orders", [&](grpc::Status s) {
    ++deleted.times;
    deleted.status = s;
  });
  ASSERT_TRUE(cluster_.RunUntil([&] { return deleted.times > 0; }));
  ASSERT_TRUE(deleted.status.ok()) << deleted.status.error_message();
  cluster_.RunUntil([&] { return cluster_.View(leader_, "orders", 0) == nullptr; });
  cluster_.RunTicks(5);
  for (const auto& a : during) {
    EXPECT_EQ(a->times, 1);
    EXPECT_TRUE(a->status.ok() || a->status.error_code() == grpc::StatusCode::NOT_FOUND)
        << a->status.error_message();
  }
  auto gone = cluster_.ProduceAndWait(leader_, "orders", 0, {"x"});
  EXPECT_EQ(gone.status.error_code(), grpc::StatusCode::UNAVAILABLE) << "not hosted any more";

  ASSERT_TRUE(cluster_.CreateTopic("orders", 1, 3).ok());
  const uint64_t leader = cluster_.WaitForLeader("orders", 0);
  auto fresh = cluster_.ProduceAndWait(leader, "orders", 0, {"new"});
  ASSERT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  EXPECT_EQ(fresh.response.base_offset(), 0u) << "a recreated topic is a new log";
}

TEST_F(HostTest, CreatingAnExistingTopicIsRefusedAndReplicationFactorIsBoundedByTheNodes) {
  EXPECT_EQ(cluster_.CreateTopic("orders", 1, 3).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(cluster_.CreateTopic("wide", 1, 4).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// ---- Shutdown
// ----------------------------------------------------------------------------------------------------

// Every operation posted after Stop is answered at once, on the caller's thread, with UNAVAILABLE, and runs
// nothing on the (stopped) loop's state. Before the loop refused late tasks, they ran on the caller's thread
// against groups that Stop was tearing down: DescribeTopic answered OK from them.
TEST_F(HostTest, OperationsAfterStopFailFastWithUnavailable) {
  Host& host = cluster_.host(leader_);
  cluster_.StopHost(leader_);
  std::vector<grpc::Status> answers;
  auto record = [&answers](grpc::Status s) { answers.push_back(std::move(s)); };
  host.DescribeTopic("orders", [&](grpc::Status s, v1::Topic) { record(s); });
  ProduceArgs args;
  args.topic = "orders";
  args.record_count = 1;
  host.Produce(args, "", [&](grpc::Status s, v1::ProduceResponse) { record(s); });
  v1::CreateTopicRequest create;
  create.set_name("more");
  create.set_partitions(1);
  host.CreateTopic(create, [&](grpc::Status s, v1::Topic) { record(s); });
  host.DeleteTopic("orders", record);
  v1::TransferLeadershipRequest transfer;
  transfer.set_topic("orders");
  host.TransferLeadership(transfer, [&](grpc::Status s, v1::TransferLeadershipResponse) { record(s); });
  v1::CommitOffsetsRequest commit;
  commit.set_topic("orders");
  host.CommitOffsets(commit, record);
  v1::FetchOffsetsRequest fetch;
  fetch.set_topic("orders");
  host.FetchOffsets(fetch, [&](grpc::Status s, v1::FetchOffsetsResponse) { record(s); });
  bool stats_called = false;
  host.CollectStats(true, [&](StatsSample) { stats_called = true; });
  ASSERT_EQ(answers.size(), 7u) << "every call is answered before it returns";
  for (const auto& s : answers) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_NE(s.error_message().find("shutting down"), std::string::npos) << s.error_message();
  }
  EXPECT_FALSE(stats_called);
}

TEST_F(HostTest, StopFailsWhatIsPendingOnceAndRejectsWhatWasQueued) {
  cluster_.Isolate(leader_);
  auto pending = cluster_.Produce(leader_, "orders", 0, {"p"});
  cluster_.RunTicks(1);                                         // proposed, not committed
  auto queued = cluster_.Produce(leader_, "orders", 0, {"q"});  // posted, never taken by a turn
  cluster_.StopHost(leader_);
  for (const auto& a : {pending, queued}) {
    EXPECT_EQ(a->times, 1);
    EXPECT_EQ(a->status.error_code(), grpc::StatusCode::UNAVAILABLE) << a->status.error_message();
  }
  auto view = cluster_.View(leader_, "orders", 0);
  EXPECT_TRUE(view->stopped()) << "readers stop waiting on a stopped node";
  EXPECT_FALSE(view->deleted()) << "a stopping node must not say its topics were deleted";
}

}  // namespace
}  // namespace brook::server
