#include "server/api/validate.h"

#include <limits>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/codec/compression.h"
#include "server/common/errors.h"
#include "server/common/limits.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

grpc::Status ValidateName(std::string_view field, std::string_view name, uint32_t max_length, const char* what) {
  if (name.empty()) return InvalidField(field, absl::StrCat("is empty; give a ", what, " name"));
  if (name.size() > max_length) {
    return InvalidField(field, absl::StrCat("is ", name.size(), " characters; the limit is ", max_length));
  }
  if (name == "." || name == "..") return InvalidField(field, "may not be '.' or '..'");
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i])) {
      return InvalidField(field, absl::StrCat("has a character not allowed at position ", i,
                                              "; use only letters, digits, '.', '_' and '-'"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ValidateReadSizes(uint32_t max_records, uint32_t max_bytes) {
  if (max_records > Limits::kMaxFetchRecords) {
    return InvalidField("max_records", absl::StrCat("is ", max_records, "; the limit is ",
                                                    Limits::kMaxFetchRecords, " (0 = default)"));
  }
  if (max_bytes > Limits::kMaxFetchBytes) {
    return InvalidField(
        "max_bytes", absl::StrCat("is ", max_bytes, "; the limit is ", Limits::kMaxFetchBytes, " (0 = default)"));
  }
  return grpc::Status::OK;
}

}  // namespace

uint64_t RecordBytes(const v1::Record& record) {
  uint64_t bytes = record.key().size() + record.value().size();
  for (const auto& h : record.headers()) bytes += h.key().size() + h.value().size();
  return bytes;
}

grpc::Status ValidateTopicName(std::string_view field, std::string_view name) {
  return ValidateName(field, name, Limits::kMaxTopicNameLength, "topic");
}

grpc::Status ValidateUserTopic(std::string_view field, std::string_view name, const char* action) {
  if (auto s = ValidateTopicName(field, name); !s.ok()) return s;
  if (!name.starts_with("__")) return grpc::Status::OK;
  return InvalidField(field,
                      absl::StrCat("starts with \"__\": Brook's internal topics (such as __consumer_groups, "
                                   "where consumer groups live) cannot be ",
                                   action));
}

grpc::Status ValidateGroupName(std::string_view field, std::string_view name) {
  return ValidateName(field, name, Limits::kMaxGroupNameLength, "consumer group");
}

// The records of a batch, plain or decompressed, against every per-record and per-batch limit. `field` names them
// in errors ("records", or "compressed_records.records" for what a compressed batch holds).
grpc::Status ValidateRecords(const std::string& field,
                             const google::protobuf::RepeatedPtrField<v1::Record>& records,
                             ValidatedProduce* out) {
  if (records.empty()) return InvalidField(field, "is empty; send at least one record");
  if (static_cast<uint32_t>(records.size()) > Limits::kMaxBatchRecords) {
    return InvalidField(field, absl::StrCat("has ", records.size(), " records; the limit is ",
                                            Limits::kMaxBatchRecords, " per request"));
  }
  uint64_t total = 0;
  for (int i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    uint64_t bytes = RecordBytes(r);
    if (bytes > Limits::kMaxRecordBytes) {
      return InvalidField(absl::StrCat(field, "[", i, "]"),
                          absl::StrCat("is ", bytes, " bytes; the limit is ", Limits::kMaxRecordBytes,
                                       " (key + value + headers)"));
    }
    if (r.tombstone() && !r.value().empty()) {
      return InvalidField(absl::StrCat(field, "[", i, "].value"),
                          absl::StrCat("is ", r.value().size(),
                                       " bytes but the record is a tombstone: a tombstone deletes its key and "
                                       "carries no value"));
    }
    if (out != nullptr && r.key().empty() && out->keyless_record.empty()) {
      out->keyless_record = absl::StrCat(field, "[", i, "].key");
    }
    if (r.timestamp_ms() < 0) {
      return InvalidField(absl::StrCat(field, "[", i, "].timestamp_ms"),
                          "is negative; use ms since the Unix epoch, or 0 for the append time");
    }
    if (static_cast<uint32_t>(r.headers_size()) > Limits::kMaxHeadersPerRecord) {
      return InvalidField(
          absl::StrCat(field, "[", i, "].headers"),
          absl::StrCat("has ", r.headers_size(), " headers; the limit is ", Limits::kMaxHeadersPerRecord));
    }
    for (int h = 0; h < r.headers_size(); ++h) {
      const auto& key = r.headers(h).key();
      if (key.empty() || key.size() > Limits::kMaxHeaderKeyBytes) {
        return InvalidField(
            absl::StrCat(field, "[", i, "].headers[", h, "].key"),
            absl::StrCat("is ", key.size(), " bytes; it must be 1 to ", Limits::kMaxHeaderKeyBytes));
      }
    }
    total += bytes;
  }
  if (total > Limits::kMaxBatchBytes) {
    return InvalidField(field, absl::StrCat("total ", total, " bytes; the limit is ", Limits::kMaxBatchBytes,
                                            " per request: split the batch"));
  }
  return grpc::Status::OK;
}

// The fields of the compressed form before decompressing anything: codec, exclusivity, count, CRC.
grpc::Status ValidateCompressedFields(const v1::ProduceRequest& req) {
  if (!KnownCompression(req.compression())) {
    return InvalidField("compression", absl::StrCat("is ", static_cast<int>(req.compression()),
                                                    ", an unknown codec; use COMPRESSION_LZ4 (1) or "
                                                    "COMPRESSION_ZSTD (2), or COMPRESSION_NONE with records"));
  }
  if (req.records_size() > 0) {
    return InvalidField("records", "is set together with compression; send EITHER records OR compressed_records");
  }
  if (req.compressed_records().empty()) {
    return InvalidField("compressed_records", "is empty; a compressed batch holds at least one record");
  }
  if (req.record_count() == 0 || req.record_count() > Limits::kMaxBatchRecords) {
    return InvalidField("record_count", absl::StrCat("is ", req.record_count(), "; it must be 1 to ",
                                                     Limits::kMaxBatchRecords, " (the records compressed)"));
  }
  const uint32_t crc = storage::Crc32c(req.compressed_records());
  if (crc != req.compressed_crc32c()) {
    return InvalidField("compressed_crc32c",
                        absl::StrCat("CRC mismatch: the request says ", req.compressed_crc32c(),
                                     " but the CRC-32C of compressed_records is ", crc,
                                     "; the bytes changed on the way, or the CRC was computed over other bytes"));
  }
  return grpc::Status::OK;
}

// A compressed batch: its fields, then what it decompresses to, bounded by Limits.max_batch_bytes.
grpc::Status ValidateCompressedProduce(const v1::ProduceRequest& req, ValidatedProduce* out) {
  if (auto s = ValidateCompressedFields(req); !s.ok()) return s;
  auto plain = Decompress(req.compression(), req.compressed_records(), Limits::kMaxBatchBytes);
  if (absl::IsOutOfRange(plain.status())) {
    return InvalidField("compressed_records",
                        absl::StrCat("decompresses to more than ", Limits::kMaxBatchBytes,
                                     " bytes, over the limit Limits.max_batch_bytes: ", "split the batch"));
  }
  if (!plain.ok()) {
    return InvalidField("compressed_records",
                        absl::StrCat("does not decompress as ", CompressionName(req.compression()), ": ",
                                     plain.status().message()));
  }
  v1::RecordList list;
  if (!list.ParseFromString(*plain)) {
    return InvalidField("compressed_records", "decompresses to bytes that do not parse as a brook.v1.RecordList");
  }
  if (static_cast<uint32_t>(list.records_size()) != req.record_count()) {
    return InvalidField("record_count", absl::StrCat("says ", req.record_count(), " but compressed_records holds ",
                                                     list.records_size(), " records"));
  }
  ValidatedProduce found;
  if (auto s = ValidateRecords("compressed_records.records", list.records(), &found); !s.ok()) return s;
  if (out != nullptr) {
    out->record_count = req.record_count();
    out->uncompressed_bytes = static_cast<uint32_t>(plain->size());
    out->keyless_record = std::move(found.keyless_record);
  }
  return grpc::Status::OK;
}

grpc::Status ValidateInitProducer(const v1::InitProducerRequest& req) {
  if (req.producer_name().empty()) return grpc::Status::OK;
  return ValidateName("producer_name", req.producer_name(), Limits::kMaxTopicNameLength, "producer");
}

grpc::Status ValidateProduce(const v1::ProduceRequest& req, ValidatedProduce* out) {
  if (auto s = ValidateUserTopic("topic", req.topic(), "written to"); !s.ok()) return s;
  if (req.producer_id() == 0 && req.sequence() != 0) {
    return InvalidField("sequence", "is set but producer_id is 0; set a producer_id to use sequence numbers");
  }
  if (req.producer_id() == 0 && req.producer_epoch() != 0) {
    return InvalidField("producer_epoch", "is set but producer_id is 0; epochs belong to producer ids");
  }
  if (req.compression() != v1::COMPRESSION_NONE) return ValidateCompressedProduce(req, out);
  if (!req.compressed_records().empty() || req.record_count() != 0 || req.compressed_crc32c() != 0) {
    return InvalidField("compression",
                        "is COMPRESSION_NONE but compressed_records, record_count or "
                        "compressed_crc32c is set; name the codec, or send records instead");
  }
  if (auto s = ValidateRecords("records", req.records(), out); !s.ok()) return s;
  if (out != nullptr) out->record_count = static_cast<uint32_t>(req.records_size());
  return grpc::Status::OK;
}

grpc::Status ValidateKeysFor(const v1::TopicConfig& config, const ValidatedProduce& produce) {
  if (!Compacted(config) || produce.keyless_record.empty()) return grpc::Status::OK;
  return InvalidField(produce.keyless_record,
                      "is empty, but the topic is compacted (cleanup_policy COMPACT or COMPACT_DELETE): every "
                      "record needs a key, the key compaction keeps the latest record of");
}

grpc::Status ValidateFetch(const v1::FetchRequest& req) {
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (auto s = ValidateReadSizes(req.max_records(), req.max_bytes()); !s.ok()) return s;
  if (req.max_wait_ms() > Limits::kMaxWaitMs) {
    return InvalidField("max_wait_ms",
                        absl::StrCat("is ", req.max_wait_ms(), "; the limit is ", Limits::kMaxWaitMs));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateSubscribe(const v1::SubscribeRequest& req) {
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  return ValidateReadSizes(req.max_records(), req.max_bytes());
}

grpc::Status ValidateListOffsets(const v1::ListOffsetsRequest& req) {
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (req.spec() == v1::ListOffsetsRequest::SPEC_UNSPECIFIED) {
    return InvalidField("spec", "is unset; use EARLIEST, LATEST or TIMESTAMP");
  }
  if (req.spec() == v1::ListOffsetsRequest::TIMESTAMP && req.timestamp_ms() < 0) {
    return InvalidField("timestamp_ms", "is negative; use ms since the Unix epoch");
  }
  return grpc::Status::OK;
}

// Cleanup policy and its settings: each setting belongs to the policies that use it.
grpc::Status ValidateCreateTopic(const v1::CreateTopicRequest& req) {
  if (auto s = ValidateUserTopic("name", req.name(), "created by hand"); !s.ok()) return s;
  if (req.partitions() == 0 || req.partitions() > Limits::kMaxPartitionsPerTopic) {
    return InvalidField(
        "partitions", absl::StrCat("is ", req.partitions(), "; it must be 1 to ", Limits::kMaxPartitionsPerTopic));
  }
  if (req.replication_factor() > Limits::kMaxReplicationFactor) {
    return InvalidField("replication_factor", absl::StrCat("is ", req.replication_factor(), "; the limit is ",
                                                           Limits::kMaxReplicationFactor, " (0 = default 3)"));
  }
  return ValidateTopicConfig(req.config());
}

grpc::Status ValidateAlterTopic(const v1::AlterTopicRequest& req) {
  if (auto s = ValidateUserTopic("name", req.name(), "altered"); !s.ok()) return s;
  constexpr int kMaxFields = 8;  // more than the fields there are
  if (req.set_size() > kMaxFields) {
    return InvalidField("set", absl::StrCat("has ", req.set_size(), " entries; name each field at most once"));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateMoveReplicas(const v1::MoveReplicasRequest& req) {
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (req.replicas_size() == 0 || static_cast<uint32_t>(req.replicas_size()) > Limits::kMaxReplicationFactor) {
    return InvalidField("replicas",
                        absl::StrCat("names ", req.replicas_size(), " nodes; name 1 to ",
                                     Limits::kMaxReplicationFactor, " (the topic's replication factor)"));
  }
  for (int i = 0; i < req.replicas_size(); ++i) {
    if (req.replicas(i) == 0) return InvalidField(absl::StrCat("replicas[", i, "]"), "is 0; node ids start at 1");
  }
  return grpc::Status::OK;
}

grpc::Status ValidateAddPartitions(const v1::AddPartitionsRequest& req) {
  // A group's coordinator is found by hashing over the partition count: it must never change.
  if (auto s = ValidateUserTopic("topic", req.topic(), "given partitions"); !s.ok()) return s;
  if (req.partition_count() == 0 || req.partition_count() > Limits::kMaxPartitionsPerTopic) {
    return InvalidField("partition_count",
                        absl::StrCat("is ", req.partition_count(), "; it must be 1 to ",
                                     Limits::kMaxPartitionsPerTopic, " and above the current count"));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateCommitOffsets(const v1::CommitOffsetsRequest& req) {
  if (auto s = ValidateGroupName("group", req.group()); !s.ok()) return s;
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (req.offsets_size() == 0) return InvalidField("offsets", "is empty; give at least one partition offset");
  if (static_cast<uint32_t>(req.offsets_size()) > Limits::kMaxPartitionsPerOffsetCommit) {
    return InvalidField("offsets", absl::StrCat("has ", req.offsets_size(), " entries; the limit is ",
                                                Limits::kMaxPartitionsPerOffsetCommit));
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < req.offsets_size(); ++i) {
    if (!seen.insert(req.offsets(i).partition()).second) {
      return InvalidField(
          absl::StrCat("offsets[", i, "].partition"),
          absl::StrCat("repeats partition ", req.offsets(i).partition(), "; name each partition once"));
    }
    if (req.offsets(i).metadata().size() > Limits::kMaxOffsetMetadataBytes) {
      return InvalidField(absl::StrCat("offsets[", i, "].metadata"),
                          absl::StrCat("is ", req.offsets(i).metadata().size(), " bytes; the limit is ",
                                       Limits::kMaxOffsetMetadataBytes));
    }
  }
  if (req.member_id().size() > kMaxGroupIdBytes) {
    return InvalidField("member_id", absl::StrCat("is longer than ", kMaxGroupIdBytes, " bytes"));
  }
  if (req.member_id().empty() && req.member_epoch() != 0) {
    return InvalidField("member_epoch", "is set without a member_id; a member's commit names both");
  }
  return grpc::Status::OK;
}

grpc::Status ValidateResetOffsets(const v1::ResetOffsetsRequest& req) {
  v1::CommitOffsetsRequest as_commit;
  as_commit.set_group(req.group());
  as_commit.set_topic(req.topic());
  *as_commit.mutable_offsets() = req.offsets();
  return ValidateCommitOffsets(as_commit);
}

grpc::Status ValidateDescribeGroup(const v1::DescribeGroupRequest& req) {
  if (auto s = ValidateGroupName("group", req.group()); !s.ok()) return s;
  size_t partitions = 0;
  for (int i = 0; i < req.offsets_of_size(); ++i) {
    const std::string field = absl::StrCat("offsets_of[", i, "].topic");
    if (auto s = ValidateTopicName(field, req.offsets_of(i).topic()); !s.ok()) return s;
    partitions += req.offsets_of(i).partitions_size();
  }
  if (partitions > Limits::kMaxPartitionsPerGroup) {
    return InvalidField("offsets_of", absl::StrCat("names ", partitions, " partitions; the limit is ",
                                                   Limits::kMaxPartitionsPerGroup));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateListGroups(const v1::ListGroupsRequest& req) {
  if (req.coordinator_partition() >= Limits::kGroupCoordinatorPartitions) {
    return InvalidField("coordinator_partition", absl::StrCat("is ", req.coordinator_partition(), "; use 0 to ",
                                                              Limits::kGroupCoordinatorPartitions - 1));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateDeleteGroup(const v1::DeleteGroupRequest& req) {
  return ValidateGroupName("group", req.group());
}

grpc::Status ValidateHeartbeat(const v1::HeartbeatRequest& req) {
  if (auto s = ValidateGroupName("group", req.group()); !s.ok()) return s;
  constexpr size_t kMaxIdBytes = kMaxGroupIdBytes;
  const int64_t e = req.member_epoch();
  if (e < -2 || e > std::numeric_limits<uint32_t>::max()) {
    return InvalidField("member_epoch", absl::StrCat("is ", e,
                                                     "; use 0 to join, -1 to leave, -2 to leave for a "
                                                     "restart (static members), or the epoch last answered"));
  }
  if (req.member_id().size() > kMaxIdBytes || req.instance_id().size() > kMaxIdBytes) {
    return InvalidField(req.member_id().size() > kMaxIdBytes ? "member_id" : "instance_id",
                        absl::StrCat("is longer than ", kMaxIdBytes, " bytes"));
  }
  if (e != 0 && req.member_id().empty()) {
    return InvalidField("member_id", "is empty; every call but a join names the member");
  }
  if (e == -2 && req.instance_id().empty()) {
    return InvalidField("member_epoch", "is -2, which is for static members (with an instance_id) only");
  }
  if (e == 0 && req.topics().empty()) return InvalidField("topics", "is empty; a join names the topics to read");
  if (static_cast<uint32_t>(req.topics_size()) > Limits::kMaxTopicsPerGroup) {
    return InvalidField(
        "topics", absl::StrCat("names ", req.topics_size(), " topics; the limit is ", Limits::kMaxTopicsPerGroup));
  }
  for (int i = 0; i < req.topics_size(); ++i) {
    if (auto s = ValidateTopicName(absl::StrCat("topics[", i, "]"), req.topics(i)); !s.ok()) return s;
  }
  size_t owned = 0;
  for (int i = 0; i < req.owned_size(); ++i) {
    if (auto s = ValidateTopicName(absl::StrCat("owned[", i, "].topic"), req.owned(i).topic()); !s.ok()) return s;
    owned += req.owned(i).partitions_size();
  }
  if (owned > Limits::kMaxPartitionsPerGroup) {
    return InvalidField(
        "owned", absl::StrCat("names ", owned, " partitions; the limit is ", Limits::kMaxPartitionsPerGroup));
  }
  if (!req.assignor().empty() && req.assignor() != "uniform" && req.assignor() != "range") {
    return InvalidField("assignor", absl::StrCat("is '", req.assignor(), "'; use \"uniform\" or \"range\""));
  }
  if (req.session_timeout_ms() != 0 && (req.session_timeout_ms() < 1000 || req.session_timeout_ms() > 300'000)) {
    return InvalidField("session_timeout_ms",
                        absl::StrCat("is ", req.session_timeout_ms(), "; use 1000 to 300000, or 0 for 10000"));
  }
  if (req.rebalance_timeout_ms() != 0 &&
      (req.rebalance_timeout_ms() < 1000 || req.rebalance_timeout_ms() > 600'000)) {
    return InvalidField("rebalance_timeout_ms",
                        absl::StrCat("is ", req.rebalance_timeout_ms(), "; use 1000 to 600000, or 0 for 60000"));
  }
  return grpc::Status::OK;
}

grpc::Status ValidateFetchOffsets(const v1::FetchOffsetsRequest& req) {
  if (auto s = ValidateGroupName("group", req.group()); !s.ok()) return s;
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (req.partitions_size() == 0) return InvalidField("partitions", "is empty; list the partitions to read");
  if (static_cast<uint32_t>(req.partitions_size()) > Limits::kMaxPartitionsPerTopic) {
    return InvalidField("partitions", absl::StrCat("has ", req.partitions_size(), " entries; a topic has at most ",
                                                   Limits::kMaxPartitionsPerTopic, " partitions"));
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < req.partitions_size(); ++i) {
    if (!seen.insert(req.partitions(i)).second) {
      return InvalidField(absl::StrCat("partitions[", i, "]"),
                          absl::StrCat("repeats partition ", req.partitions(i), "; name each partition once"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ValidateGetMetadata(const v1::GetMetadataRequest& req) {
  if (static_cast<uint32_t>(req.topics_size()) > Limits::kMaxTopicsPerRequest) {
    return InvalidField("topics", absl::StrCat("has ", req.topics_size(), " names; the limit is ",
                                               Limits::kMaxTopicsPerRequest, " (send none to get every topic)"));
  }
  std::set<std::string_view> seen;
  for (int i = 0; i < req.topics_size(); ++i) {
    const std::string field = absl::StrCat("topics[", i, "]");
    if (auto s = ValidateTopicName(field, req.topics(i)); !s.ok()) return s;
    if (!seen.insert(req.topics(i)).second) {
      return InvalidField(field, absl::StrCat("repeats '", req.topics(i), "'; name each topic once"));
    }
  }
  return grpc::Status::OK;
}

uint32_t EffectiveReplicationFactor(const v1::CreateTopicRequest& req, uint32_t nodes) {
  if (req.replication_factor() != 0) return req.replication_factor();
  return nodes < 3 ? nodes : 3;
}

}  // namespace brook::server
