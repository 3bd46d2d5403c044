// Request validation: every error path of every Validate* function answers INVALID_ARGUMENT with a BadRequest
// detail that names the offending field.
#include "server/api/validate.h"

#include <string>
#include <vector>

#include "brook/v1/errors.pb.h"
#include "gtest/gtest.h"
#include "server/api/validate_testing.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

using testing::RejectsField;

v1::ProduceRequest GoodProduce() {
  v1::ProduceRequest req;
  req.set_topic("orders");
  auto* r = req.add_records();
  r->set_key("k");
  r->set_value("v");
  auto* h = r->add_headers();
  h->set_key("trace");
  h->set_value("abc");
  return req;
}

// ---- Names -----------------------------------------------------------------------------------------------------

TEST(ValidateNames, TopicNameRules) {
  EXPECT_TRUE(ValidateTopicName("topic", "orders.eu-west_1").ok());
  EXPECT_TRUE(ValidateTopicName("topic", std::string(Limits::kMaxTopicNameLength, 'a')).ok()) << "at the limit";
  EXPECT_TRUE(ValidateTopicName("topic", "...").ok()) << "only '.' and '..' are reserved";
  EXPECT_TRUE(RejectsField(ValidateTopicName("topic", ""), "topic")) << "empty";
  EXPECT_TRUE(RejectsField(ValidateTopicName("topic", std::string(Limits::kMaxTopicNameLength + 1, 'a')), "topic"))
      << "too long";
  EXPECT_TRUE(RejectsField(ValidateTopicName("topic", "."), "topic")) << "'.'";
  EXPECT_TRUE(RejectsField(ValidateTopicName("topic", ".."), "topic")) << "'..'";
  for (const std::string& bad :
       std::vector<std::string>{"a b", "a/b", "a:b", "é", "a\nb", std::string("a\0b", 3), "a*"}) {
    EXPECT_TRUE(RejectsField(ValidateTopicName("name", bad), "name")) << "bad character in '" << bad << "'";
  }
}

TEST(ValidateNames, InternalTopicsCannotBeCreatedAlteredGrownDeletedOrWritten) {
  EXPECT_TRUE(ValidateUserTopic("name", "_one_underscore", "deleted").ok());
  auto s = ValidateUserTopic("name", "__consumer_groups", "deleted");
  EXPECT_TRUE(RejectsField(s, "name"));
  EXPECT_NE(s.error_message().find("cannot be deleted"), std::string::npos) << s.error_message();
  v1::CreateTopicRequest create;
  create.set_name("__mine");
  create.set_partitions(1);
  EXPECT_TRUE(RejectsField(ValidateCreateTopic(create), "name"));
  v1::AddPartitionsRequest grow;
  grow.set_topic("__consumer_groups");
  grow.set_partition_count(9);
  EXPECT_TRUE(RejectsField(ValidateAddPartitions(grow), "topic"));
  v1::AlterTopicRequest alter;
  alter.set_name("__consumer_groups");
  EXPECT_TRUE(RejectsField(ValidateAlterTopic(alter), "name"));
  v1::ProduceRequest produce;
  produce.set_topic("__consumer_groups");
  produce.add_records()->set_value("x");
  ValidatedProduce out;
  EXPECT_TRUE(RejectsField(ValidateProduce(produce, &out), "topic"));
}

TEST(ValidateNames, GroupNameRules) {
  EXPECT_TRUE(ValidateGroupName("group", "billing-v2").ok());
  EXPECT_TRUE(RejectsField(ValidateGroupName("group", ""), "group"));
  EXPECT_TRUE(
      RejectsField(ValidateGroupName("group", std::string(Limits::kMaxGroupNameLength + 1, 'g')), "group"));
  EXPECT_TRUE(RejectsField(ValidateGroupName("group", ".."), "group"));
  EXPECT_TRUE(RejectsField(ValidateGroupName("group", "a b"), "group"));
}

// ---- Produce ---------------------------------------------------------------------------------------------------

TEST(ValidateProduce, AcceptsAnOrdinaryBatch) {
  auto req = GoodProduce();
  EXPECT_TRUE(ValidateProduce(req).ok());
  req.set_producer_id(7);
  req.set_sequence(100);
  EXPECT_TRUE(ValidateProduce(req).ok()) << "a sequence with a producer id";
}

TEST(ValidateProduce, BadTopicIsNamed) {
  auto req = GoodProduce();
  req.set_topic("");
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "topic"));
}

TEST(ValidateProduce, EmptyRecordsAreRejected) {
  auto req = GoodProduce();
  req.clear_records();
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records"));
}

TEST(ValidateProduce, TooManyRecordsAreRejected) {
  auto req = GoodProduce();
  while (static_cast<uint32_t>(req.records_size()) < Limits::kMaxBatchRecords) req.add_records();
  EXPECT_TRUE(ValidateProduce(req).ok()) << "exactly the limit is accepted";
  req.add_records();
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records"));
}

TEST(ValidateProduce, RecordLargerThanTheLimitIsNamedByIndex) {
  auto req = GoodProduce();
  auto* r = req.add_records();
  r->set_value(std::string(Limits::kMaxRecordBytes, 'x'));
  EXPECT_TRUE(ValidateProduce(req).ok()) << "a value of exactly the limit";
  r->set_key("k");  // key + value now exceed it
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1]"));
  r->clear_key();
  r->set_value(std::string(Limits::kMaxRecordBytes - 2, 'x'));
  auto* h = r->add_headers();
  h->set_key("hk");
  h->set_value("v");  // headers count too
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1]"));
}

TEST(ValidateProduce, NegativeTimestampIsRejected) {
  auto req = GoodProduce();
  req.add_records()->set_timestamp_ms(-1);
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1].timestamp_ms"));
}

TEST(ValidateProduce, TooManyHeadersAreRejected) {
  auto req = GoodProduce();
  auto* r = req.add_records();
  for (uint32_t i = 0; i <= Limits::kMaxHeadersPerRecord; ++i) r->add_headers()->set_key("h" + std::to_string(i));
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1].headers"));
  r->mutable_headers()->RemoveLast();
  EXPECT_TRUE(ValidateProduce(req).ok()) << "exactly the limit is accepted";
}

TEST(ValidateProduce, EmptyOrOversizedHeaderKeyIsRejected) {
  auto req = GoodProduce();
  auto* r = req.add_records();
  r->add_headers()->set_key("ok");
  r->add_headers()->set_value("value without a key");
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1].headers[1].key"));
  r->mutable_headers(1)->set_key(std::string(Limits::kMaxHeaderKeyBytes + 1, 'h'));
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records[1].headers[1].key")) << "too long";
  r->mutable_headers(1)->set_key(std::string(Limits::kMaxHeaderKeyBytes, 'h'));
  EXPECT_TRUE(ValidateProduce(req).ok()) << "a key of exactly the limit";
}

TEST(ValidateProduce, BatchLargerThanTheLimitIsRejected) {
  v1::ProduceRequest req;
  req.set_topic("orders");
  const std::string value(Limits::kMaxRecordBytes, 'x');  // each record is at its own limit
  while (static_cast<uint64_t>(req.records_size()) * Limits::kMaxRecordBytes <= Limits::kMaxBatchBytes) {
    req.add_records()->set_value(value);
  }
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records"));
  req.mutable_records()->RemoveLast();
  EXPECT_TRUE(ValidateProduce(req).ok()) << "exactly the batch limit is accepted";
}

TEST(ValidateProduce, SequenceWithoutProducerIdIsRejected) {
  auto req = GoodProduce();
  req.set_sequence(3);
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "sequence"));
}

// ---- Reads -----------------------------------------------------------------------------------------------------

TEST(ValidateFetch, LimitsAreEnforced) {
  v1::FetchRequest req;
  req.set_topic("orders");
  req.set_max_records(Limits::kMaxFetchRecords);
  req.set_max_bytes(Limits::kMaxFetchBytes);
  req.set_max_wait_ms(Limits::kMaxWaitMs);
  EXPECT_TRUE(ValidateFetch(req).ok()) << "every limit exactly";
  auto bad = req;
  bad.set_topic("a b");
  EXPECT_TRUE(RejectsField(ValidateFetch(bad), "topic"));
  bad = req;
  bad.set_max_records(Limits::kMaxFetchRecords + 1);
  EXPECT_TRUE(RejectsField(ValidateFetch(bad), "max_records"));
  bad = req;
  bad.set_max_bytes(Limits::kMaxFetchBytes + 1);
  EXPECT_TRUE(RejectsField(ValidateFetch(bad), "max_bytes"));
  bad = req;
  bad.set_max_wait_ms(Limits::kMaxWaitMs + 1);
  EXPECT_TRUE(RejectsField(ValidateFetch(bad), "max_wait_ms"));
}

TEST(ValidateSubscribe, LimitsAreEnforced) {
  v1::SubscribeRequest req;
  req.set_topic("orders");
  EXPECT_TRUE(ValidateSubscribe(req).ok()) << "zeros mean defaults";
  auto bad = req;
  bad.set_topic("");
  EXPECT_TRUE(RejectsField(ValidateSubscribe(bad), "topic"));
  bad = req;
  bad.set_max_records(Limits::kMaxFetchRecords + 1);
  EXPECT_TRUE(RejectsField(ValidateSubscribe(bad), "max_records"));
  bad = req;
  bad.set_max_bytes(Limits::kMaxFetchBytes + 1);
  EXPECT_TRUE(RejectsField(ValidateSubscribe(bad), "max_bytes"));
}

TEST(ValidateListOffsets, SpecMustBeSetAndTimestampNonNegative) {
  v1::ListOffsetsRequest req;
  req.set_topic("orders");
  EXPECT_TRUE(RejectsField(ValidateListOffsets(req), "spec")) << "SPEC_UNSPECIFIED";
  req.set_spec(v1::ListOffsetsRequest::TIMESTAMP);
  req.set_timestamp_ms(-5);
  EXPECT_TRUE(RejectsField(ValidateListOffsets(req), "timestamp_ms"));
  req.set_timestamp_ms(0);
  EXPECT_TRUE(ValidateListOffsets(req).ok());
  req.set_spec(v1::ListOffsetsRequest::LATEST);
  req.set_timestamp_ms(-5);
  EXPECT_TRUE(ValidateListOffsets(req).ok()) << "timestamp_ms is ignored unless spec is TIMESTAMP";
  req.set_topic("..");
  EXPECT_TRUE(RejectsField(ValidateListOffsets(req), "topic"));
}

// ---- Admin and groups ------------------------------------------------------------------------------------------

TEST(ValidateCreateTopic, PartitionsAndReplicationFactorAreBounded) {
  v1::CreateTopicRequest req;
  req.set_name("orders");
  req.set_partitions(1);
  EXPECT_TRUE(ValidateCreateTopic(req).ok()) << "replication factor 0 means the default";
  auto bad = req;
  bad.set_name("");
  EXPECT_TRUE(RejectsField(ValidateCreateTopic(bad), "name"));
  bad = req;
  bad.set_partitions(0);
  EXPECT_TRUE(RejectsField(ValidateCreateTopic(bad), "partitions")) << "zero partitions";
  bad.set_partitions(Limits::kMaxPartitionsPerTopic + 1);
  EXPECT_TRUE(RejectsField(ValidateCreateTopic(bad), "partitions")) << "too many partitions";
  bad.set_partitions(Limits::kMaxPartitionsPerTopic);
  EXPECT_TRUE(ValidateCreateTopic(bad).ok()) << "exactly the partition limit";
  bad = req;
  bad.set_replication_factor(Limits::kMaxReplicationFactor + 1);
  EXPECT_TRUE(RejectsField(ValidateCreateTopic(bad), "replication_factor"));
}

TEST(ValidateCreateTopic, DefaultReplicationFactorIsThreeCappedByNodes) {
  v1::CreateTopicRequest req;
  EXPECT_EQ(EffectiveReplicationFactor(req, 1), 1u);
  EXPECT_EQ(EffectiveReplicationFactor(req, 2), 2u);
  EXPECT_EQ(EffectiveReplicationFactor(req, 5), 3u);
  req.set_replication_factor(5);
  EXPECT_EQ(EffectiveReplicationFactor(req, 3), 5u) << "an explicit factor is kept (the host refuses it)";
}

TEST(ValidateCommitOffsets, GroupTopicOffsetsAndMetadataAreChecked) {
  v1::CommitOffsetsRequest req;
  req.set_group("billing");
  req.set_topic("orders");
  req.add_offsets()->set_offset(3);
  EXPECT_TRUE(ValidateCommitOffsets(req).ok());
  auto bad = req;
  bad.set_group("");
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "group")) << "empty group";
  bad.set_group("bill ing");
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "group")) << "bad character";
  bad = req;
  bad.set_topic("");
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "topic"));
  bad = req;
  bad.clear_offsets();
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "offsets")) << "no offsets";
  for (uint32_t i = 0; i < Limits::kMaxPartitionsPerOffsetCommit; ++i) bad.add_offsets()->set_partition(i);
  EXPECT_TRUE(ValidateCommitOffsets(bad).ok()) << "exactly the limit of partitions";
  bad.add_offsets();
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "offsets")) << "too many offsets";
  bad = req;
  auto* second = bad.add_offsets();
  second->set_partition(1);
  second->set_metadata(std::string(Limits::kMaxOffsetMetadataBytes + 1, 'm'));
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "offsets[1].metadata"));
  bad.mutable_offsets(1)->set_metadata(std::string(Limits::kMaxOffsetMetadataBytes, 'm'));
  EXPECT_TRUE(ValidateCommitOffsets(bad).ok()) << "metadata of exactly the limit";
  bad.mutable_offsets(1)->set_partition(bad.offsets(0).partition());
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "offsets[1].partition")) << "a partition named twice";
}

TEST(ValidateRequestLists, ListsAreBoundedAndNameEachItemOnce) {
  // A small request must not build a huge answer: FetchOffsets naming one partition a million times, GetMetadata
  // naming one topic a million times.
  v1::FetchOffsetsRequest fetch;
  fetch.set_group("g");
  fetch.set_topic("t");
  for (int i = 0; i < 3; ++i) fetch.add_partitions(7);
  EXPECT_TRUE(RejectsField(ValidateFetchOffsets(fetch), "partitions[1]"));
  fetch.clear_partitions();
  for (uint32_t i = 0; i <= Limits::kMaxPartitionsPerTopic; ++i) fetch.add_partitions(i);
  EXPECT_TRUE(RejectsField(ValidateFetchOffsets(fetch), "partitions"));
  fetch.mutable_partitions()->RemoveLast();
  EXPECT_TRUE(ValidateFetchOffsets(fetch).ok());

  v1::GetMetadataRequest meta;
  EXPECT_TRUE(ValidateGetMetadata(meta).ok()) << "no names: every topic";
  meta.add_topics("orders");
  meta.add_topics("orders");
  EXPECT_TRUE(RejectsField(ValidateGetMetadata(meta), "topics[1]"));
  meta.clear_topics();
  for (uint32_t i = 0; i <= Limits::kMaxTopicsPerRequest; ++i) meta.add_topics("t" + std::to_string(i));
  EXPECT_TRUE(RejectsField(ValidateGetMetadata(meta), "topics"));
  meta.clear_topics();
  meta.add_topics("bad name");
  EXPECT_TRUE(RejectsField(ValidateGetMetadata(meta), "topics[0]"));
}

TEST(ValidateFetchOffsets, GroupTopicAndPartitionsAreChecked) {
  v1::FetchOffsetsRequest req;
  req.set_group("billing");
  req.set_topic("orders");
  req.add_partitions(0);
  EXPECT_TRUE(ValidateFetchOffsets(req).ok());
  auto bad = req;
  bad.set_group(".");
  EXPECT_TRUE(RejectsField(ValidateFetchOffsets(bad), "group"));
  bad = req;
  bad.set_topic(std::string(Limits::kMaxTopicNameLength + 1, 't'));
  EXPECT_TRUE(RejectsField(ValidateFetchOffsets(bad), "topic"));
  bad = req;
  bad.clear_partitions();
  EXPECT_TRUE(RejectsField(ValidateFetchOffsets(bad), "partitions"));
}

}  // namespace
TEST(ValidateGroupCalls, MemberCommitsAndAdminCallsAreChecked) {
  v1::CommitOffsetsRequest commit;
  commit.set_group("billing");
  commit.set_topic("orders");
  commit.add_offsets()->set_partition(0);
  commit.set_member_id(std::string(kMaxGroupIdBytes, 'm'));
  commit.set_member_epoch(3);
  EXPECT_TRUE(ValidateCommitOffsets(commit).ok()) << "a member id of exactly the limit";
  auto bad = commit;
  bad.set_member_id(std::string(kMaxGroupIdBytes + 1, 'm'));
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "member_id"));
  bad = commit;
  bad.clear_member_id();
  EXPECT_TRUE(RejectsField(ValidateCommitOffsets(bad), "member_epoch")) << "an epoch without a member";

  v1::ResetOffsetsRequest reset;
  reset.set_group("billing");
  reset.set_topic("orders");
  EXPECT_TRUE(RejectsField(ValidateResetOffsets(reset), "offsets")) << "nothing to reset";
  reset.add_offsets()->set_partition(1);
  EXPECT_TRUE(ValidateResetOffsets(reset).ok());
  reset.add_offsets()->set_partition(1);
  EXPECT_TRUE(RejectsField(ValidateResetOffsets(reset), "offsets[1].partition"));

  v1::DescribeGroupRequest describe;
  EXPECT_TRUE(RejectsField(ValidateDescribeGroup(describe), "group"));
  describe.set_group("billing");
  EXPECT_TRUE(ValidateDescribeGroup(describe).ok());
  auto* of = describe.add_offsets_of();
  of->set_topic("orders");
  for (uint32_t p = 0; p <= Limits::kMaxPartitionsPerGroup; ++p) of->add_partitions(p);
  EXPECT_TRUE(RejectsField(ValidateDescribeGroup(describe), "offsets_of"));
  of->clear_partitions();
  of->set_topic("bad name");
  EXPECT_TRUE(RejectsField(ValidateDescribeGroup(describe), "offsets_of[0].topic"));

  v1::ListGroupsRequest list;
  list.set_coordinator_partition(Limits::kGroupCoordinatorPartitions - 1);
  EXPECT_TRUE(ValidateListGroups(list).ok());
  list.set_coordinator_partition(Limits::kGroupCoordinatorPartitions);
  EXPECT_TRUE(RejectsField(ValidateListGroups(list), "coordinator_partition"));

  v1::DeleteGroupRequest del;
  EXPECT_TRUE(RejectsField(ValidateDeleteGroup(del), "group"));
  del.set_group(std::string(Limits::kMaxGroupNameLength + 1, 'g'));
  EXPECT_TRUE(RejectsField(ValidateDeleteGroup(del), "group"));
}

}  // namespace brook::server
