#include "server/common/access.h"

#include "gtest/gtest.h"

namespace brook::server {
namespace {

v1::AclRule Rule(std::string principal, v1::AclAction action, v1::AclResourceType type, std::string name,
                 bool prefix = false) {
  v1::AclRule r;
  r.set_principal(std::move(principal));
  r.set_action(action);
  r.set_resource_type(type);
  r.set_resource_name(std::move(name));
  r.set_prefix(prefix);
  return r;
}

TEST(AclTest, NothingIsAllowedWithoutARule) {
  AclRules rules;
  EXPECT_FALSE(AclAllows(rules, "alice", v1::PRODUCE, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::DESCRIBE, v1::CLUSTER, ""));
  EXPECT_FALSE(AclAllowsAny(rules, "alice", v1::PRODUCE, v1::TOPIC));
}

TEST(AclTest, ALiteralRuleAllowsExactlyItsPrincipalActionAndName) {
  AclRules rules;
  *rules.Add() = Rule("alice", v1::PRODUCE, v1::TOPIC, "orders");
  EXPECT_TRUE(AclAllows(rules, "alice", v1::PRODUCE, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "bob", v1::PRODUCE, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::CONSUME, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::ADMIN, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::PRODUCE, v1::TOPIC, "orders2"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::PRODUCE, v1::GROUP, "orders"));
  // produce implies describe of what it names, nothing else
  EXPECT_TRUE(AclAllows(rules, "alice", v1::DESCRIBE, v1::TOPIC, "orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::DESCRIBE, v1::TOPIC, "other"));
  EXPECT_TRUE(AclAllowsAny(rules, "alice", v1::PRODUCE, v1::TOPIC));
  EXPECT_FALSE(AclAllowsAny(rules, "bob", v1::PRODUCE, v1::TOPIC));
}

TEST(AclTest, PrefixAndWildcardRules) {
  AclRules rules;
  *rules.Add() = Rule("alice", v1::CONSUME, v1::TOPIC, "team-a.", /*prefix=*/true);
  *rules.Add() = Rule("*", v1::DESCRIBE, v1::GROUP, "", /*prefix=*/true);
  *rules.Add() = Rule("ops", v1::ADMIN, v1::CLUSTER, "");
  EXPECT_TRUE(AclAllows(rules, "alice", v1::CONSUME, v1::TOPIC, "team-a.orders"));
  EXPECT_TRUE(AclAllows(rules, "alice", v1::CONSUME, v1::TOPIC, "team-a."));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::CONSUME, v1::TOPIC, "team-b.orders"));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::CONSUME, v1::TOPIC, "team-a"));
  EXPECT_TRUE(AclAllows(rules, "anyone", v1::DESCRIBE, v1::GROUP, "g1"));
  EXPECT_FALSE(AclAllows(rules, "anyone", v1::CONSUME, v1::GROUP, "g1"));
  EXPECT_TRUE(AclAllows(rules, "ops", v1::ADMIN, v1::CLUSTER, ""));
  EXPECT_TRUE(AclAllows(rules, "ops", v1::DESCRIBE, v1::CLUSTER, ""));
  EXPECT_FALSE(AclAllows(rules, "alice", v1::ADMIN, v1::CLUSTER, ""));
}

TEST(AclTest, ValidationSaysWhatIsWrong) {
  EXPECT_TRUE(ValidateAclRule(Rule("alice", v1::PRODUCE, v1::TOPIC, "orders"), "rule").ok());
  EXPECT_TRUE(ValidateAclRule(Rule("*", v1::CONSUME, v1::GROUP, "", true), "rule").ok());
  EXPECT_TRUE(ValidateAclRule(Rule("ops", v1::ADMIN, v1::CLUSTER, ""), "rule").ok());
  struct Bad {
    v1::AclRule rule;
    std::string field;
  };
  for (const auto& [rule, field] : std::vector<Bad>{
           {Rule("", v1::PRODUCE, v1::TOPIC, "t"), "rule.principal"},
           {Rule("has space", v1::PRODUCE, v1::TOPIC, "t"), "rule.principal"},
           {Rule(std::string(257, 'a'), v1::PRODUCE, v1::TOPIC, "t"), "rule.principal"},
           {Rule("a", v1::ACL_ACTION_UNSPECIFIED, v1::TOPIC, "t"), "rule.action"},
           {Rule("a", v1::PRODUCE, v1::ACL_RESOURCE_UNSPECIFIED, "t"), "rule.resource_type"},
           {Rule("a", v1::PRODUCE, v1::GROUP, "g"), "rule.action"},
           {Rule("a", v1::CONSUME, v1::CLUSTER, ""), "rule.action"},
           {Rule("a", v1::ADMIN, v1::CLUSTER, "x"), "rule.resource_name"},
           {Rule("a", v1::PRODUCE, v1::TOPIC, ""), "rule.resource_name"},
           {Rule("a", v1::PRODUCE, v1::TOPIC, std::string(250, 't')), "rule.resource_name"},
       }) {
    absl::Status s = ValidateAclRule(rule, "rule");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << rule.ShortDebugString();
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  }
}

TEST(AclTest, SameRuleComparesEveryField) {
  const v1::AclRule a = Rule("alice", v1::PRODUCE, v1::TOPIC, "orders");
  EXPECT_TRUE(SameRule(a, a));
  EXPECT_FALSE(SameRule(a, Rule("alice", v1::PRODUCE, v1::TOPIC, "orders", true)));
  EXPECT_FALSE(SameRule(a, Rule("alice", v1::CONSUME, v1::TOPIC, "orders")));
  EXPECT_FALSE(SameRule(a, Rule("bob", v1::PRODUCE, v1::TOPIC, "orders")));
}

}  // namespace
}  // namespace brook::server
