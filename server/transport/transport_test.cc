// Transport::CheckIncarnation: the rule that keeps a node that lost its data out of every majority; Join and
// membership changes.
#include "server/transport/transport.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/transport/join.h"

namespace brook::server {
namespace {

struct Remembered {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  absl::Status answer = absl::OkStatus();
};

Transport MakeTransport(Remembered* r, std::map<uint64_t, uint64_t> known = {}) {
  Transport::Options o;
  o.self = 1;
  o.cluster_id = "c";
  o.peer_addresses = {{2, "127.0.0.1:1"}, {3, "127.0.0.1:2"}};
  o.incarnation = 11;
  o.known_incarnations = std::move(known);
  o.remember_incarnation = [r](uint64_t peer, uint64_t value) {
    r->calls.emplace_back(peer, value);
    return r->answer;
  };
  return Transport(o, [](internal::MessageBatch&&) {});
}

TEST(TransportIncarnation, RemembersTheFirstAndRefusesAnother) {
  Remembered r;
  Transport t = MakeTransport(&r);
  EXPECT_TRUE(t.CheckIncarnation(2, 500).ok());
  EXPECT_TRUE(t.CheckIncarnation(2, 500).ok());
  ASSERT_EQ(r.calls.size(), 1u) << "remembered once, durably, before the first stream is accepted";
  EXPECT_EQ(r.calls[0], std::make_pair(uint64_t{2}, uint64_t{500}));
  absl::Status refused = t.CheckIncarnation(2, 501);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("node 2 came back with another data directory (incarnation 501, this node "
                                   "knows 500)"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(t.CheckIncarnation(3, 700).ok()) << "each peer has its own";
  EXPECT_TRUE(t.CheckIncarnation(2, 0).ok()) << "a peer that sends none (an older brookd) passes";
}

TEST(TransportIncarnation, KnownFromTheStoreAtStart) {
  Remembered r;
  Transport t = MakeTransport(&r, {{2, 500}});
  EXPECT_EQ(t.CheckIncarnation(2, 9).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(t.CheckIncarnation(2, 500).ok());
  EXPECT_TRUE(r.calls.empty());
}

TEST(TransportIncarnation, NotRememberedNotAccepted) {
  Remembered r;
  r.answer = absl::InternalError("disk full");
  Transport t = MakeTransport(&r);
  absl::Status s = t.CheckIncarnation(2, 500);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s;
  r.answer = absl::OkStatus();
  EXPECT_TRUE(t.CheckIncarnation(2, 600).ok()) << "nothing was remembered, so the next one is the first";
  EXPECT_EQ(t.CheckIncarnation(2, 500).code(), absl::StatusCode::kFailedPrecondition);
}

// NodeTransport.Join over real gRPC on loopback: the signed header admits, a wrong secret, cluster or incarnation
// does not, and a member that is not the controller sends the node on.
class TransportJoin : public ::testing::Test {
 protected:
  static constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";

  // A node-to-node server whose Join answers `answer`; returns its address.
  std::string Serve(internal::JoinResponse answer) {
    Transport::Options o;
    o.self = 1;
    o.cluster_id = "c";
    o.secret = kSecret;
    o.join = [this, answer](const internal::JoinRequest& req, Transport::Options::JoinDone done) {
      asked_.push_back(req);
      done(grpc::Status::OK, answer);
    };
    transports_.push_back(std::make_unique<Transport>(o, [](internal::MessageBatch&&) {}));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(transports_.back()->service());
    servers_.push_back(builder.BuildAndStart());
    return absl::StrCat("127.0.0.1:", port);
  }
  static internal::JoinRequest Request(uint64_t incarnation = 77, const std::string& cluster = "c") {
    internal::JoinRequest req;
    req.set_cluster_id(cluster);
    req.set_incarnation(incarnation);
    req.set_peer_address("127.0.0.1:9");
    return req;
  }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown();
  }

  std::vector<internal::JoinRequest> asked_;
  std::vector<std::unique_ptr<Transport>> transports_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
};

TEST_F(TransportJoin, ASignedJoinIsAnsweredAndABadOneIsRefusedWithTheReason) {
  internal::JoinResponse admitted;
  admitted.set_node_id(7);
  (*admitted.mutable_members())[7] = "127.0.0.1:9";
  const std::string address = Serve(admitted);
  auto ok = JoinCluster(address, kSecret, Request(), std::chrono::seconds(5));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->node_id(), 7u);
  ASSERT_EQ(asked_.size(), 1u);
  EXPECT_EQ(asked_[0].incarnation(), 77u);

  auto wrong = JoinCluster(address, "fedcba9876543210fedcba9876543210", Request(), std::chrono::seconds(5));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated) << wrong.status();
  EXPECT_NE(wrong.status().message().find("not signed with this cluster's secret"), std::string::npos);
  auto other = JoinCluster(address, kSecret, Request(77, "other"), std::chrono::seconds(5));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_NE(other.status().message().find("this is cluster 'c', not 'other'"), std::string::npos);
  auto none = JoinCluster(address, kSecret, Request(0), std::chrono::seconds(5));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated) << none.status();
  EXPECT_EQ(asked_.size(), 1u) << "no refused join reached the host";
  EXPECT_EQ(transports_[0]->rejections().unauthenticated_streams.load(), 3u);
}

TEST_F(TransportJoin, AMemberThatIsNotTheControllerSendsTheNodeOn) {
  internal::JoinResponse admitted;
  admitted.set_node_id(9);
  const std::string controller = Serve(admitted);
  internal::JoinResponse redirect;
  redirect.set_controller_peer_address(controller);
  const std::string member = Serve(redirect);
  auto ok = JoinCluster(member, kSecret, Request(), std::chrono::seconds(5));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->node_id(), 9u);
  EXPECT_EQ(asked_.size(), 2u);
  auto nobody = JoinCluster("127.0.0.1:1", kSecret, Request(), std::chrono::milliseconds(1200));
  EXPECT_EQ(nobody.status().code(), absl::StatusCode::kDeadlineExceeded) << nobody.status();
  EXPECT_NE(nobody.status().message().find("no member admitted this node within 1200 ms"), std::string::npos);
}

// The end of a peer's stream is counted (Network::streams_ended): the host takes a node whose stream ended, and
// that says nothing after, for down without waiting out an election timeout of silence.
TEST_F(TransportJoin, APeersStreamEndingIsCounted) {
  Transport::Options a;
  a.self = 1;
  a.cluster_id = "c";
  a.secret = kSecret;
  a.peer_addresses = {{2, "127.0.0.1:1"}};  // never dialled: only node 2 sends here
  a.remember_incarnation = [](uint64_t, uint64_t) { return absl::OkStatus(); };
  transports_.push_back(std::make_unique<Transport>(a, [](internal::MessageBatch&&) {}));
  Transport& receiver = *transports_.back();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(receiver.service());
  servers_.push_back(builder.BuildAndStart());
  Transport::Options b;
  b.self = 2;
  b.cluster_id = "c";
  b.secret = kSecret;
  b.incarnation = 5;
  b.peer_addresses = {{1, absl::StrCat("127.0.0.1:", port)}};
  auto sender = std::make_unique<Transport>(b, [](internal::MessageBatch&&) {});
  sender->Start();  // its hellos open a stream
  auto wait = [](const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done();
  };
  ASSERT_TRUE(wait([&] { return receiver.reachable(2); })) << "node 2's stream never arrived";
  EXPECT_EQ(receiver.streams_ended(2), 0u);
  sender->Stop();
  EXPECT_TRUE(wait([&] { return receiver.streams_ended(2) == 1; })) << receiver.streams_ended(2);
  EXPECT_EQ(receiver.streams_ended(3), 0u) << "not a member";
}

TEST(TransportPeers, MembersFollowTheRecordsAndARemovedOneNeverReturns) {
  Transport::Options o;
  o.self = 1;
  o.peer_address = "127.0.0.1:5";
  o.peer_addresses = {{2, "127.0.0.1:6"}};
  Transport t(o, [](internal::MessageBatch&&) {});
  t.AddPeer(4, "127.0.0.1:8");
  t.AddPeer(4, "127.0.0.1:99");  // known already: keeps its address
  EXPECT_EQ(t.peer_addresses(),
            (std::map<uint64_t, std::string>{{1, "127.0.0.1:5"}, {2, "127.0.0.1:6"}, {4, "127.0.0.1:8"}}));
  t.RemovePeer(2);
  t.AddPeer(2, "127.0.0.1:6");
  EXPECT_EQ(t.peer_addresses(), (std::map<uint64_t, std::string>{{1, "127.0.0.1:5"}, {4, "127.0.0.1:8"}}));
  EXPECT_NE(t.stats(2), nullptr) << "a removed peer's figures stay readable";
}

}  // namespace
}  // namespace brook::server
