#include "server/common/topic_config.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {

bool Compacted(const v1::TopicConfig& config) {
  return config.cleanup_policy() == v1::CLEANUP_COMPACT || config.cleanup_policy() == v1::CLEANUP_COMPACT_DELETE;
}

grpc::Status ValidateTopicConfig(const v1::TopicConfig& c) {
  if (!v1::CleanupPolicy_IsValid(c.cleanup_policy())) {
    return InvalidField(
        "config.cleanup_policy",
        absl::StrCat("is ", static_cast<int>(c.cleanup_policy()),
                     "; use CLEANUP_DELETE (0), CLEANUP_COMPACT (1) or CLEANUP_COMPACT_DELETE (2)"));
  }
  if (c.cleanup_policy() == v1::CLEANUP_COMPACT) {
    for (const auto& [field, value] : {std::pair<const char*, uint64_t>{"config.retention_ms", c.retention_ms()},
                                       {"config.retention_bytes", c.retention_bytes()}}) {
      if (value != 0) {
        return InvalidField(field,
                            "is set but cleanup_policy is CLEANUP_COMPACT, which never deletes by age or "
                            "size; use CLEANUP_COMPACT_DELETE for both, or leave it 0");
      }
    }
  }
  for (const auto& [field, value] :
       {std::pair<const char*, uint64_t>{"config.tombstone_retention_ms", c.tombstone_retention_ms()},
        {"config.min_compaction_lag_ms", c.min_compaction_lag_ms()}}) {
    if (value != 0 && !Compacted(c)) {
      return InvalidField(field,
                          "is set but the topic is not compacted; set cleanup_policy to CLEANUP_COMPACT or "
                          "CLEANUP_COMPACT_DELETE, or leave it 0");
    }
    if (value > Limits::kMaxCompactionTimeMs) {
      return InvalidField(
          field, absl::StrCat("is ", value, " ms; the limit is ", Limits::kMaxCompactionTimeMs, " (10 years)"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status AlterTopicConfig(const v1::TopicConfig& current,
                              const google::protobuf::RepeatedPtrField<std::string>& set,
                              const v1::TopicConfig& values, v1::TopicConfig* out) {
  if (set.empty()) {
    return InvalidField("set",
                        "is empty; name the config fields to change (retention_ms, retention_bytes, "
                        "tombstone_retention_ms, min_compaction_lag_ms)");
  }
  v1::TopicConfig merged = current;
  std::set<std::string> seen;
  for (int i = 0; i < set.size(); ++i) {
    const std::string& field = set[i];
    const std::string where = absl::StrCat("set[", i, "]");
    if (!seen.insert(field).second) return InvalidField(where, absl::StrCat("names '", field, "' twice"));
    if (field == "retention_ms") {
      merged.set_retention_ms(values.retention_ms());
    } else if (field == "retention_bytes") {
      merged.set_retention_bytes(values.retention_bytes());
    } else if (field == "tombstone_retention_ms") {
      merged.set_tombstone_retention_ms(values.tombstone_retention_ms());
    } else if (field == "min_compaction_lag_ms") {
      merged.set_min_compaction_lag_ms(values.min_compaction_lag_ms());
    } else if (field == "cleanup_policy") {
      return InvalidField(where,
                          "is cleanup_policy, which is fixed when the topic is created; create a new topic "
                          "with the policy you need");
    } else {
      return InvalidField(where, absl::StrCat("is '", field.substr(0, 64),
                                              "', not a field AlterTopic changes; use retention_ms, "
                                              "retention_bytes, tombstone_retention_ms or min_compaction_lag_ms"));
    }
  }
  if (auto s = ValidateTopicConfig(merged); !s.ok()) return s;
  *out = std::move(merged);
  return grpc::Status::OK;
}

}  // namespace brook::server
