// Transport::CheckIncarnation: the rule that keeps a node that lost its data out of every majority.
#include "server/transport/transport.h"

#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace brook::server
