// Validation for compacted topics: tombstones carry no value (anywhere), every record of a compacted topic has a
// key (plain or compressed), and a topic's cleanup settings belong to its cleanup policy.
#include <string>

#include "gtest/gtest.h"
#include "server/api/validate.h"
#include "server/api/validate_testing.h"
#include "server/codec/compression.h"
#include "server/common/limits.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

using testing::RejectsField;

v1::ProduceRequest Produce(std::vector<std::pair<std::string, std::string>> records) {
  v1::ProduceRequest req;
  req.set_topic("state");
  for (auto& [k, v] : records) {
    auto* r = req.add_records();
    r->set_key(k);
    r->set_value(v);
  }
  return req;
}

v1::TopicConfig Policy(v1::CleanupPolicy p) {
  v1::TopicConfig c;
  c.set_cleanup_policy(p);
  return c;
}

TEST(ValidateCompaction, ATombstoneCarriesNoValueOnAnyTopic) {
  auto req = Produce({{"a", "1"}, {"b", ""}});
  req.mutable_records(1)->set_tombstone(true);
  EXPECT_TRUE(ValidateProduce(req).ok()) << "a tombstone with a key and no value";
  req.mutable_records(1)->set_value("x");
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1].value"));
}

TEST(ValidateCompaction, EveryRecordOfACompactedTopicNeedsAKey) {
  ValidatedProduce valid;
  auto req = Produce({{"a", "1"}, {"", "2"}, {"", "3"}});
  ASSERT_TRUE(ValidateProduce(req, &valid).ok()) << "the request itself is fine";
  EXPECT_EQ(valid.keyless_record, "records[1].key");
  EXPECT_TRUE(ValidateKeysFor(Policy(v1::CLEANUP_DELETE), valid).ok()) << "a delete topic takes keyless records";
  EXPECT_TRUE(RejectsField(ValidateKeysFor(Policy(v1::CLEANUP_COMPACT), valid), "records[1].key"));
  EXPECT_TRUE(RejectsField(ValidateKeysFor(Policy(v1::CLEANUP_COMPACT_DELETE), valid), "records[1].key"));
  ValidatedProduce keyed;
  ASSERT_TRUE(ValidateProduce(Produce({{"a", "1"}}), &keyed).ok());
  EXPECT_TRUE(ValidateKeysFor(Policy(v1::CLEANUP_COMPACT), keyed).ok());
}

TEST(ValidateCompaction, TheKeysOfACompressedBatchAreCheckedToo) {
  v1::RecordList list;
  list.add_records()->set_key("a");
  list.add_records()->set_value("no key");
  const std::string plain = list.SerializeAsString();
  v1::ProduceRequest req;
  req.set_topic("state");
  req.set_compression(v1::COMPRESSION_ZSTD);
  req.set_compressed_records(*Compress(v1::COMPRESSION_ZSTD, plain));
  req.set_record_count(2);
  req.set_compressed_crc32c(storage::Crc32c(req.compressed_records()));
  ValidatedProduce valid;
  ASSERT_TRUE(ValidateProduce(req, &valid).ok());
  EXPECT_TRUE(
      RejectsField(ValidateKeysFor(Policy(v1::CLEANUP_COMPACT), valid), "compressed_records.records[1].key"));
}

TEST(ValidateCompaction, CleanupSettingsBelongToTheirPolicy) {
  v1::CreateTopicRequest req;
  req.set_name("state");
  req.set_partitions(1);
  auto create = [&](auto change) {
    v1::CreateTopicRequest r = req;
    change(*r.mutable_config());
    return ValidateCreateTopic(r);
  };
  EXPECT_TRUE(create([](v1::TopicConfig& c) { c.set_cleanup_policy(v1::CLEANUP_COMPACT); }).ok());
  EXPECT_TRUE(create([](v1::TopicConfig& c) {
                c.set_cleanup_policy(v1::CLEANUP_COMPACT_DELETE);
                c.set_retention_ms(1000);
                c.set_tombstone_retention_ms(5000);
                c.set_min_compaction_lag_ms(Limits::kMaxCompactionTimeMs);
              }).ok());
  EXPECT_TRUE(
      RejectsField(create([](v1::TopicConfig& c) { c.set_cleanup_policy(static_cast<v1::CleanupPolicy>(7)); }),
                   "config.cleanup_policy"));
  EXPECT_TRUE(RejectsField(create([](v1::TopicConfig& c) {
                             c.set_cleanup_policy(v1::CLEANUP_COMPACT);
                             c.set_retention_bytes(1 << 20);
                           }),
                           "config.retention_bytes"))
      << "compact alone never deletes by size";
  EXPECT_TRUE(RejectsField(create([](v1::TopicConfig& c) {
                             c.set_cleanup_policy(v1::CLEANUP_COMPACT);
                             c.set_retention_ms(1000);
                           }),
                           "config.retention_ms"));
  EXPECT_TRUE(RejectsField(create([](v1::TopicConfig& c) { c.set_tombstone_retention_ms(1000); }),
                           "config.tombstone_retention_ms"))
      << "a delete topic has no tombstones to keep";
  EXPECT_TRUE(RejectsField(create([](v1::TopicConfig& c) { c.set_min_compaction_lag_ms(1000); }),
                           "config.min_compaction_lag_ms"));
  EXPECT_TRUE(RejectsField(create([](v1::TopicConfig& c) {
                             c.set_cleanup_policy(v1::CLEANUP_COMPACT);
                             c.set_tombstone_retention_ms(Limits::kMaxCompactionTimeMs + 1);
                           }),
                           "config.tombstone_retention_ms"));
}

}  // namespace
}  // namespace brook::server
