// The public API of a live 3-node cluster: every validation error, routing details, reads (long-poll, Subscribe,
// read-your-writes, ListOffsets), idempotence, conditional append, consumer groups, admin calls, health and
// reflection. One cluster serves the whole suite; each test uses its own topics.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "protos/health.grpc.pb.h"
#include "protos/reflection.grpc.pb.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    client_ = new RawClient(cluster_->client_addresses());
    ASSERT_TRUE(client_->CreateTopic("api", 3).ok());
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }

  static grpc::Status Call(std::function<grpc::Status(grpc::ClientContext*)> fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return fn(&ctx);
  }

  static v1::ProduceRequest Batch(const std::string& topic, uint32_t partition, int n,
                                  const std::string& prefix = "v") {
    v1::ProduceRequest req;
    req.set_topic(topic);
    req.set_partition(partition);
    for (int i = 0; i < n; ++i) req.add_records()->set_value(absl::StrCat(prefix, i));
    return req;
  }

  static size_t LeaderIndex(const std::string& topic, uint32_t partition) {
    uint64_t id = client_->LeaderId(topic, partition);
    EXPECT_NE(id, 0u);
    return static_cast<size_t>(id - 1);
  }

  // Expects `s` to be INVALID_ARGUMENT with a BadRequest naming `field`.
  static void ExpectBadField(const grpc::Status& s, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    auto bad = Detail<v1::BadRequest>(s);
    ASSERT_TRUE(bad.has_value()) << "no BadRequest detail in: " << s.error_message();
    ASSERT_GT(bad->field_violations_size(), 0);
    EXPECT_EQ(bad->field_violations(0).field(), field) << s.error_message();
  }

  static Cluster* cluster_;
  static RawClient* client_;
};

Cluster* ApiTest::cluster_ = nullptr;
RawClient* ApiTest::client_ = nullptr;

TEST_F(ApiTest, ProduceValidationNamesTheField) {
  size_t leader = LeaderIndex("api", 0);
  auto produce = [&](const v1::ProduceRequest& req) {
    v1::ProduceResponse resp;
    return Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &resp); });
  };
  auto req = Batch("api", 0, 1);
  req.set_topic("");
  ExpectBadField(produce(req), "topic");
  req.set_topic("bad/name");
  ExpectBadField(produce(req), "topic");
  req.set_topic(std::string(250, 'a'));
  ExpectBadField(produce(req), "topic");
  req.set_topic("..");
  ExpectBadField(produce(req), "topic");
  ExpectBadField(produce(Batch("api", 0, 0)), "records");
  ExpectBadField(produce(Batch("api", 0, 10001)), "records");
  req = Batch("api", 0, 2);
  req.mutable_records(1)->set_value(std::string((1 << 20) + 1, 'x'));
  ExpectBadField(produce(req), "records[1]");
  req = Batch("api", 0, 5);
  for (int i = 0; i < 5; ++i) req.mutable_records(i)->set_value(std::string(1000 * 1000, 'x'));
  ExpectBadField(produce(req), "records");
  req = Batch("api", 0, 1);
  req.mutable_records(0)->set_timestamp_ms(-5);
  ExpectBadField(produce(req), "records[0].timestamp_ms");
  req = Batch("api", 0, 1);
  for (int i = 0; i < 65; ++i) req.mutable_records(0)->add_headers()->set_key("h");
  ExpectBadField(produce(req), "records[0].headers");
  req = Batch("api", 0, 1);
  req.mutable_records(0)->add_headers()->set_value("no key");
  ExpectBadField(produce(req), "records[0].headers[0].key");
  req = Batch("api", 0, 1);
  req.set_sequence(5);
  ExpectBadField(produce(req), "sequence");
}

TEST_F(ApiTest, UnknownTopicAndPartitionAreNotFoundWithTheCount) {
  v1::ProduceResponse resp;
  auto s = Call([&](auto* ctx) { return client_->log(0).Produce(ctx, Batch("nope", 0, 1), &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("'nope' does not exist"), std::string::npos) << s.error_message();
  s = Call([&](auto* ctx) { return client_->log(0).Produce(ctx, Batch("api", 9, 1), &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("has 3 partitions; partition 9 does not exist"), std::string::npos)
      << s.error_message();
  v1::FetchRequest f;
  f.set_topic("nope");
  v1::FetchResponse fr;
  EXPECT_EQ(Call([&](auto* ctx) { return client_->log(0).Fetch(ctx, f, &fr); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiTest, NonLeaderNamesTheLeaderInADetail) {
  size_t leader = LeaderIndex("api", 1);
  size_t other = (leader + 1) % 3;
  v1::ProduceResponse resp;
  auto s = Call([&](auto* ctx) { return client_->log(other).Produce(ctx, Batch("api", 1, 1), &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto hint = Detail<v1::NotLeader>(s);
  ASSERT_TRUE(hint.has_value()) << s.error_message();
  EXPECT_EQ(hint->leader_id(), leader + 1);
  EXPECT_EQ(hint->leader_address(), cluster_->node(leader + 1).client_address);
  EXPECT_EQ(hint->topic(), "api");
  EXPECT_EQ(hint->partition(), 1u);
  EXPECT_GT(hint->term(), 0u);
}

TEST_F(ApiTest, FetchValidationAndOutOfRange) {
  v1::FetchResponse resp;
  v1::FetchRequest f;
  f.set_topic("api");
  f.set_max_records(10001);
  ExpectBadField(Call([&](auto* ctx) { return client_->log(0).Fetch(ctx, f, &resp); }), "max_records");
  f.set_max_records(0);
  f.set_max_bytes((16 << 20) + 1);
  ExpectBadField(Call([&](auto* ctx) { return client_->log(0).Fetch(ctx, f, &resp); }), "max_bytes");
  f.set_max_bytes(0);
  f.set_max_wait_ms(30001);
  ExpectBadField(Call([&](auto* ctx) { return client_->log(0).Fetch(ctx, f, &resp); }), "max_wait_ms");
  f.set_max_wait_ms(0);
  f.set_offset(1'000'000);
  // Past the end: the partition's leader knows nothing was ever committed there; a follower may be behind, so it
  // says "retry" and names the leader.
  const size_t leader = LeaderIndex("api", 0);
  auto s = Call([&](auto* ctx) { return client_->log(leader).Fetch(ctx, f, &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << s.error_message();
  s = Call([&](auto* ctx) { return client_->log((leader + 1) % 3).Fetch(ctx, f, &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  auto hint = Detail<v1::NotLeader>(s);
  ASSERT_TRUE(hint.has_value()) << s.error_message();
  EXPECT_EQ(hint->leader_id(), leader + 1);
  v1::ListOffsetsRequest l;
  l.set_topic("api");
  v1::ListOffsetsResponse lr;
  ExpectBadField(Call([&](auto* ctx) { return client_->log(0).ListOffsets(ctx, l, &lr); }), "spec");
}

TEST_F(ApiTest, IdempotentRetryIsAnsweredWithOriginalOffsetsAndGapsAreRefused) {
  ASSERT_TRUE(client_->CreateTopic("idem", 1).ok());
  size_t leader = LeaderIndex("idem", 0);
  auto req = Batch("idem", 0, 5);
  req.set_producer_id(777);
  req.set_sequence(0);
  v1::ProduceResponse first, again;
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &first); }).ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.receipt().replicas(), 3u);
  EXPECT_GE(first.receipt().synced_replicas(), 2u);
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &again); }).ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.base_offset(), first.base_offset());
  EXPECT_EQ(client_->HighWatermark(leader, "idem", 0), first.base_offset() + 5) << "the retry was written twice";
  req.set_sequence(50);  // skips 5..49
  auto s = Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &again); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto gap = Detail<v1::SequenceError>(s);
  ASSERT_TRUE(gap.has_value()) << s.error_message();
  EXPECT_EQ(gap->expected_sequence(), 5u);
  EXPECT_EQ(gap->received_sequence(), 50u);
}

TEST_F(ApiTest, ConditionalAppendFencesAStaleWriter) {
  ASSERT_TRUE(client_->CreateTopic("fenced", 1).ok());
  size_t leader = LeaderIndex("fenced", 0);
  auto req = Batch("fenced", 0, 3);
  req.set_expected_offset(0);
  v1::ProduceResponse resp;
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &resp); }).ok());
  EXPECT_EQ(resp.base_offset(), 0u);
  auto s = Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &resp); });  // still expects 0
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto mismatch = Detail<v1::OffsetMismatch>(s);
  ASSERT_TRUE(mismatch.has_value()) << s.error_message();
  EXPECT_EQ(mismatch->log_end_offset(), 3u);
  req.set_expected_offset(3);
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, req, &resp); }).ok());
  EXPECT_EQ(resp.base_offset(), 3u);
}

TEST_F(ApiTest, FollowerLongPollWakesWhenARecordCommits) {
  ASSERT_TRUE(client_->CreateTopic("poll", 1).ok());
  size_t leader = LeaderIndex("poll", 0);
  size_t follower = (leader + 1) % 3;
  auto fetched = std::async(std::launch::async, [&] {
    v1::FetchRequest f;
    f.set_topic("poll");
    f.set_offset(0);
    f.set_max_wait_ms(10000);
    v1::FetchResponse resp;
    auto start = std::chrono::steady_clock::now();
    auto s = Call([&](auto* ctx) { return client_->log(follower).Fetch(ctx, f, &resp); });
    return std::make_tuple(s, resp, std::chrono::steady_clock::now() - start);
  });
  std::this_thread::sleep_for(300ms);
  v1::ProduceResponse pr;
  ASSERT_TRUE(
      Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, Batch("poll", 0, 2, "hello"), &pr); }).ok());
  auto [s, resp, took] = fetched.get();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.records_size(), 2);
  EXPECT_EQ(resp.records(0).value(), "hello0");
  EXPECT_EQ(resp.served_by(), follower + 1);
  EXPECT_LT(took, 9s) << "the long-poll did not wake on commit";
}

TEST_F(ApiTest, ReadYourWritesFromAnyReplica) {
  ASSERT_TRUE(client_->CreateTopic("ryw", 1).ok());
  size_t leader = LeaderIndex("ryw", 0);
  v1::ProduceResponse pr;
  ASSERT_TRUE(
      Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, Batch("ryw", 0, 1, "mine"), &pr); }).ok());
  for (size_t n = 0; n < 3; ++n) {
    v1::FetchRequest f;
    f.set_topic("ryw");
    f.set_offset(pr.base_offset());
    f.set_min_acknowledged_offset(pr.base_offset());
    f.set_max_wait_ms(5000);
    v1::FetchResponse resp;
    auto s = Call([&](auto* ctx) { return client_->log(n).Fetch(ctx, f, &resp); });
    ASSERT_TRUE(s.ok()) << "node index " << n << ": " << s.error_message();
    ASSERT_EQ(resp.records_size(), 1) << "node index " << n;
    EXPECT_EQ(resp.records(0).value(), "mine0");
  }
}

TEST_F(ApiTest, SubscribeStreamsRecordsAsTheyCommit) {
  ASSERT_TRUE(client_->CreateTopic("stream", 1).ok());
  size_t leader = LeaderIndex("stream", 0);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  v1::SubscribeRequest sub;
  sub.set_topic("stream");
  auto reader = client_->log((leader + 2) % 3).Subscribe(&ctx, sub);
  auto producer = std::async(std::launch::async, [&] {
    for (int b = 0; b < 5; ++b) {
      v1::ProduceResponse pr;
      auto s = Call([&](auto* c) {
        return client_->log(leader).Produce(c, Batch("stream", 0, 10, absl::StrCat("b", b, "-")), &pr);
      });
      if (!s.ok()) return s;
      std::this_thread::sleep_for(50ms);
    }
    return grpc::Status::OK;
  });
  std::vector<v1::StoredRecord> got;
  v1::FetchResponse chunk;
  while (got.size() < 50 && reader->Read(&chunk)) {
    for (const auto& r : chunk.records()) got.push_back(r);
  }
  ASSERT_TRUE(producer.get().ok());
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset(), i);
  EXPECT_EQ(got[49].value(), "b4-9");
  ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ApiTest, ListOffsetsFindsEarliestLatestAndByTime) {
  ASSERT_TRUE(client_->CreateTopic("times", 1).ok());
  size_t leader = LeaderIndex("times", 0);
  v1::ProduceResponse a, b;
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, Batch("times", 0, 4), &a); }).ok());
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, Batch("times", 0, 4), &b); }).ok());
  ASSERT_GT(b.append_time_ms(), a.append_time_ms());
  auto list = [&](v1::ListOffsetsRequest::Spec spec, int64_t ts) {
    v1::ListOffsetsRequest req;
    req.set_topic("times");
    req.set_spec(spec);
    req.set_timestamp_ms(ts);
    v1::ListOffsetsResponse resp;
    EXPECT_TRUE(Call([&](auto* ctx) { return client_->log(leader).ListOffsets(ctx, req, &resp); }).ok());
    return resp.offset();
  };
  EXPECT_EQ(list(v1::ListOffsetsRequest::EARLIEST, 0), 0u);
  EXPECT_EQ(list(v1::ListOffsetsRequest::LATEST, 0), 8u);
  EXPECT_EQ(list(v1::ListOffsetsRequest::TIMESTAMP, a.append_time_ms()), 0u);
  EXPECT_EQ(list(v1::ListOffsetsRequest::TIMESTAMP, b.append_time_ms()), 4u);
  EXPECT_EQ(list(v1::ListOffsetsRequest::TIMESTAMP, b.append_time_ms() + 60000), 8u);
}

TEST_F(ApiTest, ConsumerGroupOffsetsAreCommittedOnTheLeaderWithLag) {
  ASSERT_TRUE(client_->CreateTopic("groups", 2).ok());
  size_t leader = LeaderIndex("groups", 0);
  v1::ProduceResponse pr;
  ASSERT_TRUE(
      Call([&](auto* ctx) { return client_->log(leader).Produce(ctx, Batch("groups", 0, 10), &pr); }).ok());
  v1::CommitOffsetsRequest commit;
  commit.set_group("billing");
  commit.set_topic("groups");
  auto* po = commit.add_offsets();
  po->set_partition(0);
  po->set_offset(7);
  po->set_metadata("worker-1");
  v1::CommitOffsetsResponse cr;
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->groups(leader).CommitOffsets(ctx, commit, &cr); }).ok());
  v1::FetchOffsetsRequest fetch;
  fetch.set_group("billing");
  fetch.set_topic("groups");
  fetch.add_partitions(0);
  v1::FetchOffsetsResponse fr;
  ASSERT_TRUE(Call([&](auto* ctx) { return client_->groups(leader).FetchOffsets(ctx, fetch, &fr); }).ok());
  ASSERT_EQ(fr.offsets_size(), 1);
  EXPECT_TRUE(fr.offsets(0).committed());
  EXPECT_EQ(fr.offsets(0).offset(), 7u);
  EXPECT_EQ(fr.offsets(0).metadata(), "worker-1");
  EXPECT_EQ(fr.offsets(0).lag(), 3u);
  // Errors: past the watermark, bad group name, a non-leader, an unknown partition.
  po->set_offset(11);
  ExpectBadField(Call([&](auto* ctx) { return client_->groups(leader).CommitOffsets(ctx, commit, &cr); }),
                 "offsets[0].offset");
  po->set_offset(1);
  commit.set_group("bad group");
  ExpectBadField(Call([&](auto* ctx) { return client_->groups(leader).CommitOffsets(ctx, commit, &cr); }),
                 "group");
  commit.set_group("billing");
  auto s = Call([&](auto* ctx) { return client_->groups((leader + 1) % 3).CommitOffsets(ctx, commit, &cr); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Detail<v1::NotLeader>(s).has_value());
  fetch.set_partitions(0, 5);
  EXPECT_EQ(Call([&](auto* ctx) { return client_->groups(leader).FetchOffsets(ctx, fetch, &fr); }).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiTest, AdminCallsValidateAndRoute) {
  v1::CreateTopicResponse resp;
  auto create = [&](size_t node, const std::string& name, uint32_t partitions, uint32_t rf) {
    v1::CreateTopicRequest req;
    req.set_name(name);
    req.set_partitions(partitions);
    req.set_replication_factor(rf);
    return Call([&](auto* ctx) { return client_->admin(node).CreateTopic(ctx, req, &resp); });
  };
  v1::DescribeClusterResponse cluster;
  ASSERT_TRUE(Call([&](auto* ctx) {
                return client_->admin(0).DescribeCluster(ctx, v1::DescribeClusterRequest(), &cluster);
              }).ok());
  ASSERT_EQ(cluster.nodes_size(), 3);
  size_t controller = static_cast<size_t>(cluster.controller_id() - 1);
  ExpectBadField(create(controller, "bad name", 1, 3), "name");
  ExpectBadField(create(controller, "ok", 0, 3), "partitions");
  ExpectBadField(create(controller, "ok", 1025, 3), "partitions");
  ExpectBadField(create(controller, "ok", 1, 8), "replication_factor");
  EXPECT_EQ(create(controller, "ok", 1, 5).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(create(controller, "api", 1, 3).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  auto s = create((controller + 1) % 3, "elsewhere", 1, 3);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto hint = Detail<v1::NotLeader>(s);
  ASSERT_TRUE(hint.has_value());
  EXPECT_EQ(hint->leader_id(), cluster.controller_id());
  EXPECT_EQ(hint->topic(), "");

  v1::DescribeTopicRequest dreq;
  dreq.set_name("api");
  v1::DescribeTopicResponse dresp;
  // The first election of a partition may go to any replica; its preferred leader takes over soon after. Wait
  // (bounded) until the leaders have settled on three different nodes.
  std::set<uint64_t> leaders;
  for (int attempt = 0; attempt < 200 && leaders.size() != 3; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(Call([&](auto* ctx) { return client_->admin(0).DescribeTopic(ctx, dreq, &dresp); }).ok());
    ASSERT_EQ(dresp.topic().partitions_size(), 3);
    leaders.clear();
    for (const auto& p : dresp.topic().partitions()) {
      EXPECT_EQ(p.replicas_size(), 3);
      leaders.insert(p.leader_id());
    }
  }
  EXPECT_EQ(leaders.size(), 3u) << "three partitions should have leaders on three different nodes";
  dreq.set_name("missing");
  EXPECT_EQ(Call([&](auto* ctx) { return client_->admin(0).DescribeTopic(ctx, dreq, &dresp); }).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::Limits limits;
  ASSERT_TRUE(
      Call([&](auto* ctx) { return client_->admin(1).GetLimits(ctx, v1::GetLimitsRequest(), &limits); }).ok());
  EXPECT_EQ(limits.max_record_bytes(), 1u << 20);
  EXPECT_EQ(limits.max_batch_records(), 10000u);
  EXPECT_EQ(limits.max_partitions_per_topic(), 1024u);

  v1::ListTopicsResponse topics;
  ASSERT_TRUE(
      Call([&](auto* ctx) { return client_->admin(2).ListTopics(ctx, v1::ListTopicsRequest(), &topics); }).ok());
  EXPECT_GE(topics.topics_size(), 1);
}

TEST_F(ApiTest, LeadershipTransfersOnRequest) {
  ASSERT_TRUE(client_->CreateTopic("moving", 1).ok());
  uint64_t from = client_->LeaderId("moving", 0);
  uint64_t to = from % 3 + 1;
  v1::TransferLeadershipRequest req;
  req.set_topic("moving");
  req.set_target_node_id(to);
  v1::TransferLeadershipResponse resp;
  auto s = Call([&](auto* ctx) { return client_->admin(from - 1).TransferLeadership(ctx, req, &resp); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.leader_id(), to);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (client_->LeaderId("moving", 0) != to && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(client_->LeaderId("moving", 0), to);
  req.set_target_node_id(9);
  s = Call([&](auto* ctx) { return client_->admin(to - 1).TransferLeadership(ctx, req, &resp); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST_F(ApiTest, DeleteTopicRemovesItsDataEverywhere) {
  ASSERT_TRUE(client_->CreateTopic("doomed", 1).ok());
  v1::ProduceResponse pr;
  ASSERT_TRUE(client_->Produce(Batch("doomed", 0, 20), &pr).ok());
  v1::DescribeClusterResponse cluster;
  ASSERT_TRUE(Call([&](auto* ctx) {
                return client_->admin(0).DescribeCluster(ctx, v1::DescribeClusterRequest(), &cluster);
              }).ok());
  v1::DeleteTopicRequest del;
  del.set_name("doomed");
  v1::DeleteTopicResponse dr;
  ASSERT_TRUE(Call([&](auto* ctx) {
                return client_->admin(cluster.controller_id() - 1).DeleteTopic(ctx, del, &dr);
              }).ok());
  EXPECT_EQ(Call([&](auto* ctx) {
              return client_->admin(cluster.controller_id() - 1).DeleteTopic(ctx, del, &dr);
            }).error_code(),
            grpc::StatusCode::NOT_FOUND);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (size_t n = 0; n < 3; ++n) {
    while (client_->HighWatermark(n, "doomed", 0).has_value() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(client_->HighWatermark(n, "doomed", 0).has_value()) << "node index " << n << " still serves it";
  }
  // A new topic of the same name starts from offset 0.
  ASSERT_TRUE(client_->CreateTopic("doomed", 1).ok());
  ASSERT_TRUE(client_->Produce(Batch("doomed", 0, 1), &pr).ok());
  EXPECT_EQ(pr.base_offset(), 0u);
}

TEST_F(ApiTest, HealthAndReflectionAreServed) {
  for (const auto& n : cluster_->nodes()) {
    auto channel = grpc::CreateChannel(n.client_address, grpc::InsecureChannelCredentials());
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::health::v1::HealthCheckResponse hr;
    auto s = Call([&](auto* ctx) { return health->Check(ctx, grpc::health::v1::HealthCheckRequest(), &hr); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  auto channel = grpc::CreateChannel(cluster_->node(1).client_address, grpc::InsecureChannelCredentials());
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto stream = reflection->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& svc : resp.list_services_response().service()) names.insert(svc.name());
  EXPECT_TRUE(names.contains("brook.v1.Log"));
  EXPECT_TRUE(names.contains("brook.v1.Admin"));
  EXPECT_TRUE(names.contains("brook.v1.ConsumerGroups"));
  stream->Finish();
}

}  // namespace
}  // namespace brook::testing
