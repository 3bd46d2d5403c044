// A topic's retention and compaction settings (brook.v1.TopicConfig): the rules a config must meet, checked where
// a topic is created (the API edge) and where it is altered (the controller, and every node applying the change).
#pragma once

#include <string>

#include "brook/v1/admin.pb.h"
#include "google/protobuf/repeated_field.h"
#include "grpcpp/support/status.h"

namespace brook::server {

// Whether a topic's cleanup policy compacts (CLEANUP_COMPACT or CLEANUP_COMPACT_DELETE).
bool Compacted(const v1::TopicConfig& config);

// INVALID_ARGUMENT naming the field ("config.retention_ms", ...) when `config` breaks a rule of admin.proto's
// TopicConfig: a known cleanup policy, no retention on a CLEANUP_COMPACT topic, compaction settings only on a
// compacted topic and within Limits::kMaxCompactionTimeMs.
grpc::Status ValidateTopicConfig(const v1::TopicConfig& config);

// AlterTopic: `current` with the fields named in `set` taken from `values` (admin.proto AlterTopicRequest), into
// `out`. INVALID_ARGUMENT when `set` is empty, names a field twice, names one that cannot change
// (cleanup_policy) or does not exist, or when the result breaks a rule of ValidateTopicConfig.
grpc::Status AlterTopicConfig(const v1::TopicConfig& current,
                              const google::protobuf::RepeatedPtrField<std::string>& set,
                              const v1::TopicConfig& values, v1::TopicConfig* out);

}  // namespace brook::server
