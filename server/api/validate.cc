#include "server/api/validate.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

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

grpc::Status ValidateGroupName(std::string_view field, std::string_view name) {
  return ValidateName(field, name, Limits::kMaxGroupNameLength, "consumer group");
}

grpc::Status ValidateInitProducer(const v1::InitProducerRequest& req) {
  if (req.producer_name().empty()) return grpc::Status::OK;
  return ValidateName("producer_name", req.producer_name(), Limits::kMaxTopicNameLength, "producer");
}

grpc::Status ValidateProduce(const v1::ProduceRequest& req) {
  if (auto s = ValidateTopicName("topic", req.topic()); !s.ok()) return s;
  if (req.records_size() == 0) return InvalidField("records", "is empty; send at least one record");
  if (static_cast<uint32_t>(req.records_size()) > Limits::kMaxBatchRecords) {
    return InvalidField("records", absl::StrCat("has ", req.records_size(), " records; the limit is ",
                                                Limits::kMaxBatchRecords, " per request"));
  }
  if (req.producer_id() == 0 && req.sequence() != 0) {
    return InvalidField("sequence", "is set but producer_id is 0; set a producer_id to use sequence numbers");
  }
  if (req.producer_id() == 0 && req.producer_epoch() != 0) {
    return InvalidField("producer_epoch", "is set but producer_id is 0; epochs belong to producer ids");
  }
  uint64_t total = 0;
  for (int i = 0; i < req.records_size(); ++i) {
    const auto& r = req.records(i);
    uint64_t bytes = RecordBytes(r);
    if (bytes > Limits::kMaxRecordBytes) {
      return InvalidField(absl::StrCat("records[", i, "]"),
                          absl::StrCat("is ", bytes, " bytes; the limit is ", Limits::kMaxRecordBytes,
                                       " (key + value + headers)"));
    }
    if (r.timestamp_ms() < 0) {
      return InvalidField(absl::StrCat("records[", i, "].timestamp_ms"),
                          "is negative; use ms since the Unix epoch, or 0 for the append time");
    }
    if (static_cast<uint32_t>(r.headers_size()) > Limits::kMaxHeadersPerRecord) {
      return InvalidField(
          absl::StrCat("records[", i, "].headers"),
          absl::StrCat("has ", r.headers_size(), " headers; the limit is ", Limits::kMaxHeadersPerRecord));
    }
    for (int h = 0; h < r.headers_size(); ++h) {
      const auto& key = r.headers(h).key();
      if (key.empty() || key.size() > Limits::kMaxHeaderKeyBytes) {
        return InvalidField(
            absl::StrCat("records[", i, "].headers[", h, "].key"),
            absl::StrCat("is ", key.size(), " bytes; it must be 1 to ", Limits::kMaxHeaderKeyBytes));
      }
    }
    total += bytes;
  }
  if (total > Limits::kMaxBatchBytes) {
    return InvalidField("records", absl::StrCat("total ", total, " bytes; the limit is ", Limits::kMaxBatchBytes,
                                                " per request: split the batch"));
  }
  return grpc::Status::OK;
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

grpc::Status ValidateCreateTopic(const v1::CreateTopicRequest& req) {
  if (auto s = ValidateTopicName("name", req.name()); !s.ok()) return s;
  if (req.partitions() == 0 || req.partitions() > Limits::kMaxPartitionsPerTopic) {
    return InvalidField(
        "partitions", absl::StrCat("is ", req.partitions(), "; it must be 1 to ", Limits::kMaxPartitionsPerTopic));
  }
  if (req.replication_factor() > Limits::kMaxReplicationFactor) {
    return InvalidField("replication_factor", absl::StrCat("is ", req.replication_factor(), "; the limit is ",
                                                           Limits::kMaxReplicationFactor, " (0 = default 3)"));
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
