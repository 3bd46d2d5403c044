// Request validation: pure functions that check every field of a request against docs/api.md and the Limits,
// and answer INVALID_ARGUMENT with a BadRequest naming the field and what would be accepted. They do not know
// whether a topic exists (that is NOT_FOUND, decided with the metadata).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "brook/v1/admin.pb.h"
#include "brook/v1/groups.pb.h"
#include "brook/v1/log.pb.h"
#include "grpcpp/support/status.h"
#include "server/common/topic_config.h"

namespace brook::server {

// Member and instance ids of consumer groups: at most this many bytes.
inline constexpr size_t kMaxGroupIdBytes = 255;

grpc::Status ValidateTopicName(std::string_view field, std::string_view name);
// A topic name a client may create, alter, grow, delete or write to: not one of Brook's internal topics ("__").
grpc::Status ValidateUserTopic(std::string_view field, std::string_view name, const char* action);
grpc::Status ValidateGroupName(std::string_view field, std::string_view name);
// What a valid Produce holds.
struct ValidatedProduce {
  uint32_t record_count = 0;
  // A compressed batch's decompressed size (its serialized RecordList); 0 for plain records.
  uint32_t uncompressed_bytes = 0;
  // The field of the first record without a key ("records[3].key", "compressed_records.records[0].key"); "" when
  // every record has one. A compacted topic refuses such a batch (ValidateKeysFor).
  std::string keyless_record;
};
// Plain records, or the compressed form (log.proto ProduceRequest): a compressed batch is CRC-checked,
// decompressed (never past Limits.max_batch_bytes) and parsed, and its records meet the same limits as plain ones.
// Costs one decompression and parse of a compressed batch. Fills `out` when OK and `out` is not null.
grpc::Status ValidateProduce(const v1::ProduceRequest& req, ValidatedProduce* out = nullptr);
// A Produce to a topic with `config`: on a compacted topic every record needs a key (INVALID_ARGUMENT naming the
// first record without one). The topic is known only once the request found its partition, hence apart.
grpc::Status ValidateKeysFor(const v1::TopicConfig& config, const ValidatedProduce& produce);
// An empty name, or a name like a topic's.
grpc::Status ValidateInitProducer(const v1::InitProducerRequest& req);
grpc::Status ValidateFetch(const v1::FetchRequest& req);
grpc::Status ValidateSubscribe(const v1::SubscribeRequest& req);
grpc::Status ValidateListOffsets(const v1::ListOffsetsRequest& req);
// The replication factor against the cluster's size is checked by the controller (FAILED_PRECONDITION).
grpc::Status ValidateCreateTopic(const v1::CreateTopicRequest& req);
// The name, and `set` within its bounds; the change itself is checked by the controller against the topic's
// config (AlterTopicConfig).
// MoveReplicas: a valid topic name, 1 to kMaxReplicationFactor replicas, none 0 (the rest is the controller's).
grpc::Status ValidateMoveReplicas(const v1::MoveReplicasRequest& req);
// AddPartitions: a valid topic name, partition_count 1 to kMaxPartitionsPerTopic.
grpc::Status ValidateAddPartitions(const v1::AddPartitionsRequest& req);
grpc::Status ValidateAlterTopic(const v1::AlterTopicRequest& req);
grpc::Status ValidateCommitOffsets(const v1::CommitOffsetsRequest& req);
grpc::Status ValidateFetchOffsets(const v1::FetchOffsetsRequest& req);
grpc::Status ValidateResetOffsets(const v1::ResetOffsetsRequest& req);
grpc::Status ValidateDescribeGroup(const v1::DescribeGroupRequest& req);
grpc::Status ValidateListGroups(const v1::ListGroupsRequest& req);
grpc::Status ValidateDeleteGroup(const v1::DeleteGroupRequest& req);
grpc::Status ValidateHeartbeat(const v1::HeartbeatRequest& req);
grpc::Status ValidateGetMetadata(const v1::GetMetadataRequest& req);

// Encoded size of one record as the limits count it: key + value + header keys and values.
uint64_t RecordBytes(const v1::Record& record);

// The replication factor a CreateTopic asks for, with 0 meaning min(3, nodes).
uint32_t EffectiveReplicationFactor(const v1::CreateTopicRequest& req, uint32_t nodes);

}  // namespace brook::server
