// Reads records of assigned partitions of one topic, in offset order per partition.
//
// The application assigns partitions (no group rebalancing), sets each starting position with a Seek, and
// calls Poll, which long-polls every assigned partition at once (one Fetch per partition, in parallel) and
// returns as soon as any has records. A partition whose records were trimmed by retention under the reader
// reports a Gap and the position moves past it. On a compacted topic the offsets key compaction removed are
// skipped silently (FetchResponse.compacted: they are expected there, not lost), and a record that deletes its
// key comes with record.tombstone() set and an empty value. Group offsets are stored with CommitOffsets (on the
// partition leader, durable on a majority) and read with FetchOffsets.
//
// Not thread-safe: one thread drives a Consumer (like Kafka's). Every call blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/v1/groups.pb.h"
#include "brook/v1/log.pb.h"
#include "client/lib/connection.h"

namespace brook::client {

struct ConsumerOptions {
  // Per Fetch: at most this many records / about this many bytes (0 = the server's defaults: 1,000 / 1 MiB).
  uint32_t max_records_per_fetch = 0;
  uint32_t max_bytes_per_fetch = 0;
  // Ask for compressed batches as stored (FetchRequest.accept_compressed) and decompress them here, checking each
  // batch's CRC-32C: less network and less work for the node. Off: the node decompresses.
  bool accept_compressed = true;
};

struct ConsumerRecord {
  std::string topic;
  uint32_t partition = 0;
  v1::StoredRecord record;  // offset, timestamps, key, value, headers; tombstone(): it deletes its key
};

struct GapEvent {
  std::string topic;
  uint32_t partition = 0;
  v1::Gap gap;  // [start_offset, end_offset) cannot be read; the position moved to end_offset
};

struct PollResult {
  std::vector<ConsumerRecord> records;  // per partition in offset order; partitions interleave
  std::vector<GapEvent> gaps;
  // Offsets skipped because key compaction removed their records (compacted topics; not reported as gaps). A
  // Poll that met only such offsets goes on reading within its timeout.
  uint64_t compacted_skipped = 0;
  bool empty() const { return records.empty() && gaps.empty(); }
};

enum class OffsetSpec { kEarliest, kLatest };

class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(std::shared_ptr<Connection> connection,
                                                          ConsumerOptions options = {});
  Consumer(std::shared_ptr<Connection> connection, ConsumerOptions options);

  // Reads `partitions` of `topic` (all partitions when empty), replacing any earlier assignment. Positions start
  // at the latest offset until a Seek. NOT_FOUND for an unknown topic or partition.
  absl::Status Assign(const std::string& topic, std::vector<uint32_t> partitions = {});
  // Reads exactly `positions` (partition -> next offset to read) of `topic`, replacing any earlier assignment,
  // without asking any leader (the group consumer knows every start offset). NOT_FOUND for an unknown partition.
  absl::Status AssignPositions(const std::string& topic, std::map<uint32_t, uint64_t> positions);
  const std::string& topic() const { return topic_; }
  std::vector<uint32_t> assignment() const;

  // Sets the position of every assigned partition (or only `partition`).
  absl::Status Seek(OffsetSpec spec, std::optional<uint32_t> partition = std::nullopt);
  absl::Status Seek(uint32_t partition, uint64_t offset);
  // To the first record appended at or after `timestamp_ms` (the latest offset where there is none).
  absl::Status SeekToTimestamp(int64_t timestamp_ms, std::optional<uint32_t> partition = std::nullopt);
  // The offset the next Poll reads from; nullopt for a partition that is not assigned.
  std::optional<uint64_t> Position(uint32_t partition) const;

  // Waits up to `timeout` for records (or gaps) of any assigned partition. Returns an empty result when the
  // wait ends without any. A partition known to have records past its position (its last answer's high
  // watermark) is read without waiting and its answer is always taken; the long-polls of the others are
  // cancelled once any partition has something to say. Transient failures (leader change, node down) are retried
  // within the timeout; NOT_FOUND and OUT_OF_RANGE are returned, and DATA_LOSS for a compressed batch whose bytes
  // fail their CRC (the position stays before it). Records of a compressed batch below the position are skipped.
  absl::StatusOr<PollResult> Poll(std::chrono::milliseconds timeout);

  // One ListOffsets call on the partition leader.
  absl::StatusOr<v1::ListOffsetsResponse> ListOffsets(uint32_t partition, OffsetSpec spec);
  absl::StatusOr<v1::ListOffsetsResponse> ListOffsetsForTime(uint32_t partition, int64_t timestamp_ms);

  // Stores `offsets` (partition -> next offset to read) for `group`; CommitPositions stores the current
  // positions of every assigned partition.
  absl::Status CommitOffsets(const std::string& group, const std::map<uint32_t, uint64_t>& offsets);
  absl::Status CommitPositions(const std::string& group);
  // The group's committed offsets and lag for `partitions` (all of the topic's when empty).
  absl::StatusOr<std::vector<v1::GroupPartitionOffset>> FetchOffsets(const std::string& group,
                                                                     std::vector<uint32_t> partitions = {});

 private:
  absl::Status ListOffsetsInto(uint32_t partition, v1::ListOffsetsRequest request,
                               v1::ListOffsetsResponse* response);

  std::shared_ptr<Connection> connection_;
  ConsumerOptions options_;
  std::string topic_;
  std::map<uint32_t, uint64_t> positions_;  // assigned partition -> next offset to read
  // Assigned partition -> the high watermark its last Fetch answer named. A partition whose position is below it
  // has records waiting: Poll asks it without a long-poll and waits for its answer instead of cancelling it.
  std::map<uint32_t, uint64_t> known_end_;
};

}  // namespace brook::client
