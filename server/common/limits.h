// Every limit brookd enforces, as named constants used both by the checks and by GetLimits (and documented in
// docs/api.md "Limits"). Changing one here changes what the server enforces and what it advertises.
#pragma once

#include <cstdint>

namespace brook::server {

struct Limits {
  static constexpr uint32_t kMaxRecordBytes = 1 << 20;          // key + value + headers of one record
  static constexpr uint32_t kMaxBatchRecords = 10'000;          // records per Produce
  static constexpr uint32_t kMaxBatchBytes = 4 << 20;           // all records of one Produce
  static constexpr uint32_t kDefaultFetchRecords = 1'000;       // Fetch.max_records = 0
  static constexpr uint32_t kMaxFetchRecords = 10'000;          // Fetch.max_records ceiling
  static constexpr uint32_t kDefaultFetchBytes = 1 << 20;       // Fetch.max_bytes = 0
  static constexpr uint32_t kMaxFetchBytes = 16 << 20;          // Fetch.max_bytes ceiling
  static constexpr uint32_t kMaxWaitMs = 30'000;                // Fetch long-poll
  static constexpr uint32_t kMaxPartitionsPerTopic = 1'024;     //
  static constexpr uint32_t kMaxTopicNameLength = 249;          // characters of [a-zA-Z0-9._-]
  static constexpr uint32_t kMaxHeadersPerRecord = 64;          //
  static constexpr uint32_t kMaxHeaderKeyBytes = 256;           //
  static constexpr uint32_t kIdempotenceWindowBatches = 16;     // batches remembered per producer id
  static constexpr uint32_t kMaxProducersPerPartition = 4'096;  // least recently used producer ids are forgotten
  static constexpr uint64_t kProducerRetentionMs = 24ull * 3600 * 1000;  // idle producers are forgotten after
  static constexpr uint32_t kMaxNamedProducers = 100'000;                // InitProducer names per cluster
  static constexpr uint32_t kMaxReplicationFactor = 7;                   //
  static constexpr uint32_t kMaxMessageBytes = 8 << 20;         // gRPC receive limit, client and node APIs
  static constexpr uint32_t kMaxGroupNameLength = 249;          //
  static constexpr uint32_t kGroupCoordinatorPartitions = 8;    // partitions of __consumer_groups
  static constexpr uint32_t kMaxMembersPerGroup = 1'000;        //
  static constexpr uint32_t kMaxGroupsPerCoordinator = 10'000;  // groups one __consumer_groups partition holds
  static constexpr uint32_t kMaxTopicsPerGroup = 100;           // topics one group's members read, together
  static constexpr uint32_t kMaxPartitionsPerGroup = 10'000;    // partitions of those topics, together
  static constexpr uint32_t kMaxOffsetMetadataBytes = 4 << 10;  // CommitOffsets metadata
  static constexpr uint32_t kMaxPartitionsPerOffsetCommit = 1'024;
  static constexpr uint32_t kMaxTopicsPerRequest = 1'000;  // GetMetadata names
  static constexpr uint32_t kMaxNodesPerCluster = 1'000;   // member node records in the metadata group
  static constexpr uint32_t kMaxAddressBytes = 256;        // a node's client or metrics address (host:port)
  // Per cluster: what one client can make the cluster hold (CreateTopic answers RESOURCE_EXHAUSTED past them).
  static constexpr uint32_t kMaxTopicsPerCluster = 10'000;
  static constexpr uint32_t kMaxPartitionsPerCluster = 20'000;  // partitions of all topics (replicas not counted)
  // Per partition: consumer groups with a committed offset (CommitOffsets of a new group past it is refused).
  static constexpr uint32_t kMaxGroupsPerPartition = 10'000;
  // Compacted topics (TopicConfig): the largest tombstone_retention_ms and min_compaction_lag_ms (10 years), and
  // what a tombstone_retention_ms of 0 means (24 h).
  static constexpr uint64_t kMaxCompactionTimeMs = 10ull * 365 * 24 * 3600 * 1000;
  static constexpr uint64_t kDefaultTombstoneRetentionMs = 24ull * 3600 * 1000;
  // Access control (docs/security.md): ACL rules and quotas the metadata group holds, a principal's name (token
  // name or certificate common name), tokens in --auth_tokens_file, and the bytes of one bearer token.
  static constexpr uint32_t kMaxAclRules = 10'000;
  static constexpr uint32_t kMaxQuotas = 10'000;
  static constexpr uint32_t kMaxPrincipalBytes = 256;
  static constexpr uint32_t kMaxTokens = 10'000;
  static constexpr uint32_t kMaxTokenBytes = 4'096;
};

}  // namespace brook::server
