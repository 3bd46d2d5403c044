// The metadata group's access-control commands: ACL rules added once, removed exactly, checked again at apply;
// quotas set, replaced and cleared; both survive a snapshot.
#include "gtest/gtest.h"
#include "server/common/limits.h"
#include "server/machines/metadata_machine.h"
#include "server/machines/metadata_testing.h"

namespace brook::server {
namespace {

internal::MetadataCommand AclCommand(const std::string& principal, const std::string& topic, bool remove = false) {
  internal::MetadataCommand cmd;
  auto* rule = cmd.mutable_change_acl()->mutable_rule();
  rule->set_principal(principal);
  rule->set_action(v1::PRODUCE);
  rule->set_resource_type(v1::TOPIC);
  rule->set_resource_name(topic);
  cmd.mutable_change_acl()->set_remove(remove);
  return cmd;
}

internal::MetadataCommand QuotaCommand(const std::string& principal, uint64_t produce, uint64_t fetch) {
  internal::MetadataCommand cmd;
  cmd.mutable_set_quota()->mutable_quota()->set_principal(principal);
  cmd.mutable_set_quota()->mutable_quota()->set_produce_bytes_per_second(produce);
  cmd.mutable_set_quota()->mutable_quota()->set_fetch_bytes_per_second(fetch);
  return cmd;
}

TEST(MetadataAccess, ARuleIsAddedOnceAndRemovedExactly) {
  Controller c({1, 2, 3});
  ASSERT_TRUE(c.Propose(AclCommand("alice", "orders")).status.ok());
  EXPECT_EQ(c.Propose(AclCommand("alice", "orders")).status.code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(c.Propose(AclCommand("bob", "orders")).status.ok());
  ASSERT_EQ(c.machine.state().acls_size(), 2);
  EXPECT_EQ(c.Propose(AclCommand("alice", "other", /*remove=*/true)).status.code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(c.Propose(AclCommand("alice", "orders", /*remove=*/true)).status.ok());
  ASSERT_EQ(c.machine.state().acls_size(), 1);
  EXPECT_EQ(c.machine.state().acls(0).principal(), "bob");
}

TEST(MetadataAccess, AnInvalidRuleIsRefusedAtApplyAndChangesNothing) {
  Controller c({1, 2, 3});
  auto bad = AclCommand("has space", "orders");
  EXPECT_EQ(c.Propose(bad).status.code(), absl::StatusCode::kInvalidArgument);
  auto no_action = AclCommand("alice", "orders");
  no_action.mutable_change_acl()->mutable_rule()->set_action(v1::ACL_ACTION_UNSPECIFIED);
  EXPECT_EQ(c.Propose(no_action).status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.machine.state().acls_size(), 0);
}

TEST(MetadataAccess, QuotasAreSetReplacedAndClearedAndSurviveASnapshot) {
  Controller c({1, 2, 3});
  ASSERT_TRUE(c.Propose(QuotaCommand("alice", 1000, 0)).status.ok());
  ASSERT_TRUE(c.Propose(QuotaCommand("alice", 2000, 3000)).status.ok());
  ASSERT_TRUE(c.Propose(QuotaCommand("*", 10, 10)).status.ok());
  EXPECT_EQ(c.Propose(QuotaCommand("", 10, 10)).status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(c.machine.state().quotas().size(), 2u);
  EXPECT_EQ(c.machine.state().quotas().at("alice").fetch_bytes_per_second(), 3000u);
  ASSERT_TRUE(c.Propose(AclCommand("alice", "orders")).status.ok());

  MetadataMachine copy;
  StateDelta delta;
  ASSERT_TRUE(copy.Restore(c.machine.Snapshot(), {}, &delta).ok());
  EXPECT_EQ(copy.state().quotas().at("alice").produce_bytes_per_second(), 2000u);
  EXPECT_EQ(copy.state().acls_size(), 1);

  ASSERT_TRUE(c.Propose(QuotaCommand("alice", 0, 0)).status.ok());
  EXPECT_FALSE(c.machine.state().quotas().contains("alice"));
  EXPECT_TRUE(c.machine.state().quotas().contains("*"));
}

}  // namespace
}  // namespace brook::server
