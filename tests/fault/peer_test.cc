// The node-to-node port, attacked and cut, with real brookd processes:
//   - a link whose bytes are held without a reset (a silent network) is reported unreachable by the nodes on both
//     ends (DescribeCluster), while the node in the middle still reaches both;
//   - a stream without the cluster secret, or signed with another one, is refused;
//   - a correctly signed stream claiming a node that is not a member is refused and leaves nothing on disk;
//   - a member's stream cannot carry messages (or batches) claiming another sender.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "brook/internal/transport.grpc.pb.h"
#include "brook/v1/admin.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/fault/fault_net.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

// A brook-peer-auth header as server/transport/peer_auth.h defines it, computed independently of the server's code
// (with Python's hmac module), as an attacker or another implementation would.
std::string SignedHeader(const std::string& secret, const std::string& cluster, uint64_t from, uint64_t to) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string message = absl::StrCat(cluster, "|", from, "|", to, "|", now);
  std::string cmd =
      absl::StrCat("/usr/bin/python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(),",
                   " sys.argv[2].encode(), hashlib.sha256).hexdigest())' '", secret, "' '", message, "'");
  FILE* p = popen(cmd.c_str(), "r");
  char buf[128] = {0};
  if (p != nullptr) {
    if (fgets(buf, sizeof buf, p) == nullptr) buf[0] = 0;
    pclose(p);
  }
  std::string hex(buf);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  return absl::StrCat(from, ":", to, ":", now, ":", hex);
}

std::map<uint64_t, bool> Reachable(RawClient& client, size_t node) {
  std::map<uint64_t, bool> out;
  v1::DescribeClusterResponse d;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 2s);
  if (!client.admin(node).DescribeCluster(&ctx, v1::DescribeClusterRequest(), &d).ok()) return out;
  for (const auto& n : d.nodes()) out[n.id()] = n.reachable();
  return out;
}

TEST(PeerLinks, ASilentLinkIsReportedUnreachableOnBothEndsWithinSeconds) {
  FaultNet net;
  ClusterOptions co;
  co.route = [&](uint64_t from, uint64_t to, const std::string& peer) {
    auto a = net.AddLink(from, to, peer);
    return a.ok() ? *a : peer;
  };
  auto c = Cluster::Start(co);
  ASSERT_TRUE(c.ok()) << c.status();
  RawClient client((*c)->client_addresses());
  // Everyone reaches everyone first.
  const auto until = std::chrono::steady_clock::now() + 10s;
  bool all = false;
  while (!all && std::chrono::steady_clock::now() < until) {
    all = true;
    for (size_t n = 0; n < 3; ++n) {
      for (const auto& [id, r] : Reachable(client, n)) all = all && r;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(all);
  // Hold every byte between nodes 1 and 3, both ways, without a reset.
  net.SetBlocked(1, 3, true);
  net.SetBlocked(3, 1, true);
  const auto cut = std::chrono::steady_clock::now();
  bool seen = false;
  std::map<uint64_t, bool> v1, v2, v3;
  while (!seen && std::chrono::steady_clock::now() < cut + 10s) {
    v1 = Reachable(client, 0);
    v2 = Reachable(client, 1);
    v3 = Reachable(client, 2);
    seen = !v1[3] && !v3[1] && v2[1] && v2[3] && v1[2] && v3[2];
    std::this_thread::sleep_for(50ms);
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cut);
  EXPECT_TRUE(seen) << "node 1 sees 3 " << v1[3] << ", node 3 sees 1 " << v3[1] << ", node 2 sees 1 " << v2[1]
                    << " and 3 " << v2[3];
  std::printf("the silent link was reported in %lld ms\n", static_cast<long long>(took.count()));
  net.HealAll();
}

class PeerPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    std::ifstream in(std::filesystem::path(cluster_->node(1).data_dir).parent_path() / "cluster.secret");
    std::getline(in, secret_);
    ASSERT_FALSE(secret_.empty());
  }

  // Opens a stream to node 1 with `header` (none when empty), sends `batch`, and returns how the stream ended.
  grpc::Status Send(const std::string& header, const internal::MessageBatch& batch) {
    auto channel = grpc::CreateChannel(cluster_->node(1).peer_address, grpc::InsecureChannelCredentials());
    auto stub = internal::NodeTransport::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    if (!header.empty()) ctx.AddMetadata("brook-peer-auth", header);
    internal::StreamAck ack;
    auto writer = stub->Stream(&ctx, &ack);
    writer->Write(batch);
    writer->WritesDone();
    return writer->Finish();
  }

  internal::MessageBatch Batch(uint64_t from, uint64_t message_from) {
    internal::MessageBatch b;
    b.set_cluster_id("brook");
    b.set_from_node(from);
    b.set_to_node(1);
    auto* gm = b.add_messages();
    gm->set_group_id(0);
    gm->mutable_message()->set_from(message_from);
    gm->mutable_message()->set_to(1);
    gm->mutable_message()->set_term(1'000'000);
    return b;
  }

  std::unique_ptr<Cluster> cluster_;
  std::string secret_;
};

TEST_F(PeerPortTest, StreamsWithoutOrWithAnotherSecretAreRefused) {
  auto none = Send("", Batch(2, 2));
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  auto wrong = Send(SignedHeader("another-secret-of-32-characters!", "brook", 2, 1), Batch(2, 2));
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
}

TEST_F(PeerPortTest, ASignedStreamFromANodeThatIsNotAMemberIsRefusedAndLeavesNothing) {
  auto s = Send(SignedHeader(secret_, "brook", 99, 1), Batch(99, 99));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // The cluster did not move: no term jump, the same controller, every node still ready.
  RawClient client(cluster_->client_addresses());
  ASSERT_TRUE(client.CreateTopic("after", 1).ok());
  EXPECT_NE(client.LeaderId("after", 0), 99u);
}

TEST_F(PeerPortTest, AMembersStreamCannotSpeakForAnotherNode) {
  // Signed as node 2, but the batch, then a message inside a batch, claim node 3.
  auto batch = Send(SignedHeader(secret_, "brook", 2, 1), Batch(3, 3));
  EXPECT_EQ(batch.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << batch.error_message();
  auto message = Send(SignedHeader(secret_, "brook", 2, 1), Batch(2, 3));
  EXPECT_TRUE(message.ok()) << "the stream stays, the forged message is dropped: " << message.error_message();
  RawClient client(cluster_->client_addresses());
  ASSERT_TRUE(client.CreateTopic("still", 1).ok()) << "the cluster works on";
  v1::ProduceResponse resp;
  v1::ProduceRequest req;
  req.set_topic("still");
  req.add_records()->set_value("x");
  EXPECT_TRUE(client.Produce(req, &resp).ok());
}

// What a member that turned hostile (or a buggy one) can send once its stream is accepted: Raft messages with an
// index 2^40 past the end, a term of 2^64-1, a forged snapshot. The Raft core checks every field and drops them
// (raft/README.md "Distrusting input"): the node lives on, terms stay sane, the cluster works on. Each of these
// killed a node, left a partition leaderless for good, or wiped topics before.
TEST_F(PeerPortTest, AMembersForgedRaftMessagesAreDroppedAndTheClusterWorksOn) {
  RawClient client(cluster_->client_addresses());
  ASSERT_TRUE(client.CreateTopic("target", 1).ok());
  v1::DescribeTopicRequest describe;
  describe.set_name("target");
  v1::DescribeTopicResponse before;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    ASSERT_TRUE(client.admin(0).DescribeTopic(&ctx, describe, &before).ok());
  }
  const uint64_t group = before.topic().partitions(0).group_id();
  const uint64_t term = before.topic().partitions(0).leader_term();
  internal::MessageBatch batch;
  batch.set_cluster_id("brook");
  batch.set_from_node(2);
  batch.set_to_node(1);
  for (uint64_t g : {uint64_t{0}, group}) {
    // An append 2^40 entries past the end.
    auto* huge = batch.add_messages();
    huge->set_group_id(g);
    auto* m = huge->mutable_message();
    m->set_type(4);  // kAppend
    m->set_from(2);
    m->set_to(1);
    m->set_term(term);
    m->set_log_term(term);
    m->set_index(1);
    auto* e = m->add_entries();
    e->set_index(uint64_t{1} << 40);
    e->set_term(term);
    // A heartbeat with the last possible term.
    auto* hb = batch.add_messages();
    hb->set_group_id(g);
    hb->mutable_message()->set_type(6);  // kHeartbeat
    hb->mutable_message()->set_from(2);
    hb->mutable_message()->set_to(1);
    hb->mutable_message()->set_term(UINT64_MAX);
    // A snapshot that would make node 2 the only member and wipe what node 1 holds.
    auto* snap = batch.add_messages();
    snap->set_group_id(g);
    auto* sm = snap->mutable_message();
    sm->set_type(8);  // kSnapshot
    sm->set_from(2);
    sm->set_to(1);
    sm->set_term(term + 1);
    sm->mutable_snapshot()->set_index(1'000'000);
    sm->mutable_snapshot()->set_term(term + 1);
    sm->mutable_snapshot()->mutable_conf()->add_voters(2);
    sm->set_snapshot_data("forged");
  }
  auto s = Send(SignedHeader(secret_, "brook", 2, 1), batch);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::this_thread::sleep_for(500ms);  // let node 1 step them (a failure would show below, bounded by deadlines)
  EXPECT_TRUE(cluster_->CheckAlive(1).ok()) << cluster_->LogTail(1);
  v1::ProduceResponse resp;
  v1::ProduceRequest req;
  req.set_topic("target");
  req.add_records()->set_value("still served");
  ASSERT_TRUE(client.Produce(req, &resp).ok()) << "the partition still has a working leader";
  v1::DescribeTopicResponse after;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    ASSERT_TRUE(client.admin(0).DescribeTopic(&ctx, describe, &after).ok());
  }
  EXPECT_LT(after.topic().partitions(0).leader_term(), term + 100) << "the term did not jump";
  std::vector<v1::StoredRecord> log;
  EXPECT_TRUE(client.ReadAll(0, "target", 0, 0, 1, &log).ok()) << "node 1 kept its log and follows the leader";
  EXPECT_TRUE(client.CreateTopic("after-the-attack", 1).ok()) << "the metadata group works on";
}

}  // namespace
}  // namespace brook::testing
