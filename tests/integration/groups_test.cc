// Consumer-group coordination on a live 3-node cluster (ConsumerGroups.Heartbeat, docs/decisions.md A19):
// members split a topic's partitions, a partition moves only after its owner gives it up, a silent member's
// partitions go to the others after its session, the group survives the loss of its coordinator's node, and bad
// input is refused naming the field.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;
using Owned = std::set<uint32_t>;  // partitions of the one topic a test reads

struct Member {
  Member(std::string g, std::string t) : group(std::move(g)), topic(std::move(t)) {}
  std::string group;
  std::string topic;
  std::string id;
  uint32_t epoch = 0;
  Owned owned;
};

class GroupsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    client_ = new RawClient(cluster_->client_addresses());
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }

  // One Heartbeat, following NotLeader hints and retrying unavailable nodes for up to 30 s.
  static grpc::Status Call(const v1::HeartbeatRequest& req, v1::HeartbeatResponse* resp) {
    grpc::Status s;
    size_t at = 0;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (cluster_->Running(at + 1)) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 3s);
        s = client_->groups(at).Heartbeat(&ctx, req, resp);
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
            s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
          return s;
        }
        auto hint = Detail<v1::NotLeader>(s);
        if (hint && hint->leader_id() >= 1 && hint->leader_id() <= client_->size() &&
            hint->leader_id() - 1 != at && cluster_->Running(hint->leader_id())) {
          at = hint->leader_id() - 1;
          continue;
        }
      }
      at = (at + 1) % client_->size();
      std::this_thread::sleep_for(50ms);
    }
    return s;
  }

  static grpc::Status Join(Member& m, uint32_t session_ms = 3000) {
    v1::HeartbeatRequest req;
    req.set_group(m.group);
    req.add_topics(m.topic);
    req.set_session_timeout_ms(session_ms);
    v1::HeartbeatResponse resp;
    auto s = Call(req, &resp);
    if (!s.ok()) return s;
    m.id = resp.member_id();
    Apply(m, resp);
    return s;
  }

  // A heartbeat as a well-behaved member sends it: what it holds, then it lets go of what it must give up (after
  // committing it, in a real consumer).
  static grpc::Status Beat(Member& m) {
    v1::HeartbeatRequest req;
    req.set_group(m.group);
    req.set_member_id(m.id);
    req.set_member_epoch(m.epoch);
    auto* owned = req.add_owned();
    owned->set_topic(m.topic);
    for (uint32_t p : m.owned) owned->add_partitions(p);
    v1::HeartbeatResponse resp;
    auto s = Call(req, &resp);
    if (s.ok()) Apply(m, resp);
    return s;
  }

  static void Apply(Member& m, const v1::HeartbeatResponse& resp) {
    m.epoch = resp.member_epoch();
    m.owned.clear();
    for (const auto& tp : resp.assignment()) {
      EXPECT_EQ(tp.topic(), m.topic);
      m.owned.insert(tp.partitions().begin(), tp.partitions().end());
    }
  }

  // Heartbeats every member until their partitions are disjoint and cover `partitions`, or 20 s pass.
  static bool Settle(std::vector<Member*> members, uint32_t partitions) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      Owned all;
      size_t total = 0;
      for (Member* m : members) {
        EXPECT_TRUE(Beat(*m).ok());
        total += m->owned.size();
        all.insert(m->owned.begin(), m->owned.end());
        if (all.size() != total) ADD_FAILURE() << "a partition is held by two members at once";
      }
      if (all.size() == partitions && total == partitions) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  static inline Cluster* cluster_ = nullptr;
  static inline RawClient* client_ = nullptr;
};

TEST_F(GroupsTest, MembersSplitTheTopicAndASilentMembersPartitionsGoToTheOthers) {
  ASSERT_TRUE(client_->CreateTopic("orders", 6).ok());
  Member a{"billing", "orders"}, b{"billing", "orders"};
  ASSERT_TRUE(Join(a).ok());
  EXPECT_EQ(a.owned.size(), 6u) << "a lone member gets every partition";
  ASSERT_TRUE(Join(b).ok());
  EXPECT_TRUE(b.owned.empty()) << "b got partitions a still owns";
  ASSERT_TRUE(Settle({&a, &b}, 6));
  EXPECT_EQ(a.owned.size(), 3u);
  EXPECT_EQ(b.owned.size(), 3u);

  // b falls silent: after its 3 s session the coordinator removes it and a gets everything.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (a.owned.size() < 6 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(Beat(a).ok());
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(a.owned.size(), 6u) << "the silent member's partitions did not move";
  auto s = Beat(b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  auto e = Detail<v1::GroupError>(s);
  ASSERT_TRUE(e.has_value()) << "no GroupError in: " << s.error_message();
  EXPECT_EQ(e->reason(), v1::GroupError::UNKNOWN_MEMBER);
}

TEST_F(GroupsTest, TheGroupSurvivesTheLossOfItsCoordinatorsNode) {
  ASSERT_TRUE(client_->CreateTopic("audit", 4).ok());
  Member a{"auditors", "audit"}, b{"auditors", "audit"};
  ASSERT_TRUE(Join(a, 20'000).ok());
  ASSERT_TRUE(Join(b, 20'000).ok());
  ASSERT_TRUE(Settle({&a, &b}, 4));
  // The coordinator: the leader of the group's partition of __consumer_groups.
  uint32_t h = 2166136261u;
  for (unsigned char c : std::string("auditors")) h = (h ^ c) * 16777619u;
  const uint64_t coordinator = client_->LeaderId("__consumer_groups", h % 8);
  ASSERT_NE(coordinator, 0u);
  const Owned a_before = a.owned, b_before = b.owned;
  ASSERT_TRUE(cluster_->Kill(coordinator).ok());
  // The new leader has the members (replicated), so their heartbeats go on with the same ids and partitions.
  for (int i = 0; i < 5; ++i) {
    auto sa = Beat(a);
    ASSERT_TRUE(sa.ok()) << sa.error_message();
    ASSERT_TRUE(Beat(b).ok());
  }
  EXPECT_EQ(a.owned, a_before);
  EXPECT_EQ(b.owned, b_before);
  ASSERT_TRUE(cluster_->Restart(coordinator).ok());
  ASSERT_TRUE(cluster_->WaitReady(coordinator, 30s).ok());
}

TEST_F(GroupsTest, BadHeartbeatsAreRefusedNamingTheField) {
  auto bad = [](std::function<void(v1::HeartbeatRequest&)> edit, const std::string& field) {
    v1::HeartbeatRequest req;
    req.set_group("g");
    req.add_topics("t");
    edit(req);
    v1::HeartbeatResponse resp;
    grpc::ClientContext ctx;
    auto s = client_->groups(0).Heartbeat(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << s.error_message();
    auto d = Detail<v1::BadRequest>(s);
    ASSERT_TRUE(d.has_value() && d->field_violations_size() > 0) << field;
    EXPECT_EQ(d->field_violations(0).field(), field) << s.error_message();
  };
  bad([](auto& r) { r.set_group(""); }, "group");
  bad([](auto& r) { r.set_member_epoch(-3); }, "member_epoch");
  bad([](auto& r) { r.set_member_epoch(4); }, "member_id");
  bad([](auto& r) { r.clear_topics(); }, "topics");
  bad([](auto& r) { r.set_session_timeout_ms(10); }, "session_timeout_ms");
  bad([](auto& r) { r.set_assignor("roundrobin"); }, "assignor");
  bad([](auto& r) { r.set_instance_id(std::string(300, 'i')); }, "instance_id");
  // The internal topic's name is reserved.
  grpc::ClientContext ctx;
  v1::CreateTopicRequest create;
  create.set_name("__mine");
  create.set_partitions(1);
  v1::CreateTopicResponse created;
  EXPECT_EQ(client_->admin(0).CreateTopic(&ctx, create, &created).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // ... and the groups' home cannot be deleted (every group's membership and offsets would go with it).
  grpc::ClientContext del_ctx;
  v1::DeleteTopicRequest del;
  del.set_name("__consumer_groups");
  v1::DeleteTopicResponse deleted;
  auto refused = client_->admin(0).DeleteTopic(&del_ctx, del, &deleted);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  // A heartbeat with an epoch the member never had is fenced.
  Member m{"fenced", "orders"};
  ASSERT_TRUE(Join(m).ok());
  m.epoch += 7;
  auto s = Beat(m);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  auto e = Detail<v1::GroupError>(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->reason(), v1::GroupError::FENCED_MEMBER_EPOCH);
}

}  // namespace
}  // namespace brook::testing
