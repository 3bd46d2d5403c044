// The leader balancer, in process (server/host/testing/test_cluster.h): leaders return to the partitions'
// preferred replicas, a pause set through the metadata group holds on every node, and a node that is stopping
// takes no leadership back.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/host/host.h"
#include "server/host/testing/test_cluster.h"

namespace brook::server {
namespace {

using testing::Answer;
using testing::TestCluster;

class BalancerTest : public ::testing::Test {
 protected:
  static HostOptions Options() {
    HostOptions o;
    o.leader_balance_interval = std::chrono::milliseconds(500);
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(cluster_.CreateTopic("spread", 3, 3).ok());
    for (uint32_t p = 0; p < 3; ++p) ASSERT_NE(cluster_.WaitForLeader("spread", p), 0u);
    preferred_ = cluster_.host(1).cluster()->metadata.topics().at("spread").partitions(0).replicas(0);
  }
  uint64_t Leader() { return cluster_.WaitForLeader("spread", 0); }
  // Moves partition 0's leadership off its preferred replica, as an operator's TransferLeadership would.
  uint64_t MoveAway() {
    const uint64_t target = preferred_ == 1 ? 2 : 1;
    Answer<v1::TransferLeadershipResponse> answer;
    v1::TransferLeadershipRequest req;
    req.set_topic("spread");
    req.set_partition(0);
    req.set_target_node_id(target);
    cluster_.host(Leader()).TransferLeadership(req, [&](grpc::Status s, v1::TransferLeadershipResponse r) {
      ++answer.times;
      answer.status = s;
    });
    EXPECT_TRUE(cluster_.RunUntil([&] { return answer.times > 0; }));
    EXPECT_TRUE(answer.status.ok()) << answer.status.error_message();
    return target;
  }
  void SetPaused(bool paused) {
    Answer<v1::SetLeaderBalancerResponse> answer;
    for (int attempt = 0; attempt < 20 && (attempt == 0 || !answer.status.ok()); ++attempt) {
      answer = {};
      cluster_.host(cluster_.WaitForController()).SetLeaderBalancer(paused, [&](grpc::Status s, auto r) {
        ++answer.times;
        answer.status = s;
        answer.response = r;
      });
      cluster_.RunUntil([&] { return answer.times > 0; });
    }
    ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
    EXPECT_EQ(answer.response.paused(), paused);
  }

  TestCluster cluster_{3, Options()};
  uint64_t preferred_ = 0;
};

TEST_F(BalancerTest, LeadershipReturnsToThePreferredReplica) {
  ASSERT_EQ(Leader(), preferred_) << "placement's preferred leader leads first";
  const uint64_t moved_to = MoveAway();
  ASSERT_EQ(Leader(), moved_to);
  EXPECT_TRUE(cluster_.RunUntil([&] { return Leader() == preferred_; }))
      << "the balancer did not bring the leadership back to n" << preferred_;
}

TEST_F(BalancerTest, APauseHoldsOnEveryNodeUntilResumed) {
  SetPaused(true);
  ASSERT_TRUE(cluster_.RunUntil([&] {
    for (uint64_t n = 1; n <= 3; ++n) {
      if (!cluster_.host(n).cluster()->metadata.leader_balancer_paused()) return false;
    }
    return true;
  }));
  const uint64_t moved_to = MoveAway();
  cluster_.RunTicks(200);  // 10 s: twenty balancer intervals
  EXPECT_EQ(Leader(), moved_to) << "a paused balancer moved the leadership";
  SetPaused(false);
  EXPECT_TRUE(cluster_.RunUntil([&] { return Leader() == preferred_; }));
}

TEST_F(BalancerTest, ANodeThatIsStoppingTakesNoLeadershipBack) {
  cluster_.host(preferred_).TransferAllLeadership();
  ASSERT_TRUE(cluster_.RunUntil([&] { return Leader() != preferred_; }));
  cluster_.RunTicks(200);
  EXPECT_NE(Leader(), preferred_) << "the balancer handed leadership back to a draining node";
}

}  // namespace
}  // namespace brook::server
