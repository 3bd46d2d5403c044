// The rules of a topic's config, and AlterTopic's merge: named fields change, the others keep their values, and a
// change that cannot be made is refused naming the field.
#include "server/common/topic_config.h"

#include "brook/v1/errors.pb.h"
#include "gtest/gtest.h"

namespace brook::server {
namespace {

google::protobuf::RepeatedPtrField<std::string> Fields(std::initializer_list<const char*> names) {
  google::protobuf::RepeatedPtrField<std::string> out;
  for (const char* n : names) out.Add(n);
  return out;
}

// The field a status's BadRequest detail names.
std::string FieldOf(const grpc::Status& s) {
  v1::ErrorStatus status;
  if (!status.ParseFromString(s.error_details())) return "";
  for (const auto& any : status.details()) {
    v1::BadRequest bad;
    if (any.UnpackTo(&bad) && bad.field_violations_size() > 0) return bad.field_violations(0).field();
  }
  return "";
}

TEST(AlterTopicConfig, ChangesTheNamedFieldsAndKeepsTheOthers) {
  v1::TopicConfig current;
  current.set_retention_ms(60'000);
  current.set_retention_bytes(1 << 20);
  v1::TopicConfig values;
  values.set_retention_ms(5'000);
  values.set_retention_bytes(7);  // not named: ignored
  v1::TopicConfig out;
  ASSERT_TRUE(AlterTopicConfig(current, Fields({"retention_ms"}), values, &out).ok());
  EXPECT_EQ(out.retention_ms(), 5'000u);
  EXPECT_EQ(out.retention_bytes(), 1u << 20);
  ASSERT_TRUE(
      AlterTopicConfig(current, Fields({"retention_ms", "retention_bytes"}), v1::TopicConfig{}, &out).ok());
  EXPECT_EQ(out.retention_ms(), 0u) << "0 turns retention off again";
  EXPECT_EQ(out.retention_bytes(), 0u);
}

TEST(AlterTopicConfig, RefusesWhatCannotChangeNamingTheField) {
  v1::TopicConfig compacted;
  compacted.set_cleanup_policy(v1::CLEANUP_COMPACT);
  v1::TopicConfig values;
  values.set_retention_ms(1000);
  values.set_tombstone_retention_ms(1000);
  v1::TopicConfig out;
  out.set_retention_ms(42);
  struct Case {
    v1::TopicConfig current;
    google::protobuf::RepeatedPtrField<std::string> set;
    std::string field;
    std::string says;
  };
  const Case cases[] = {
      {{}, Fields({}), "set", "is empty"},
      {{}, Fields({"retention_ms", "retention_ms"}), "set[1]", "twice"},
      {{}, Fields({"cleanup_policy"}), "set[0]", "fixed when the topic is created"},
      {{}, Fields({"partitions"}), "set[0]", "not a field AlterTopic changes"},
      {compacted, Fields({"retention_ms"}), "config.retention_ms", "CLEANUP_COMPACT"},
      {{}, Fields({"tombstone_retention_ms"}), "config.tombstone_retention_ms", "not compacted"},
  };
  for (const auto& c : cases) {
    grpc::Status s = AlterTopicConfig(c.current, c.set, values, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(FieldOf(s), c.field) << s.error_message();
    EXPECT_NE(s.error_message().find(c.says), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(out.retention_ms(), 42u) << "a refused change leaves the output alone";
  ASSERT_TRUE(AlterTopicConfig(compacted, Fields({"tombstone_retention_ms"}), values, &out).ok());
  EXPECT_EQ(out.tombstone_retention_ms(), 1000u);
  EXPECT_EQ(out.cleanup_policy(), v1::CLEANUP_COMPACT);
}

}  // namespace
}  // namespace brook::server
