// Per-partition batching for the producer: records gather into a batch until it is full (bytes or records) or
// has lingered long enough, then the batch is ready to send.
//
// Pure logic: time is passed in, nothing here blocks or does I/O. Not thread-safe: the producer guards it with
// its mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "brook/v1/records.pb.h"

namespace brook::client {

using Clock = std::chrono::steady_clock;

struct TopicPartition {
  std::string topic;
  uint32_t partition = 0;
  friend bool operator<(const TopicPartition& a, const TopicPartition& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.topic < b.topic;
  }
  friend bool operator==(const TopicPartition& a, const TopicPartition& b) {
    return a.partition == b.partition && a.topic == b.topic;
  }
};

// Where an acknowledged record landed.
struct RecordMetadata {
  std::string topic;
  uint32_t partition = 0;
  uint64_t offset = 0;
  int64_t append_time_ms = 0;
};

// Called once per record with its offset or the error that ended its delivery.
using SendCallback = absl::AnyInvocable<void(absl::StatusOr<RecordMetadata>)>;

struct BatchOptions {
  // A batch is sent once it holds this many bytes of records (keys, values, headers) ...
  size_t max_batch_bytes = 512 * 1024;
  // ... or this many records (at most Limits.max_batch_records) ...
  size_t max_batch_records = 10000;
  // ... or once its first record has waited this long. 0 sends at once (every record waits only for a free
  // in-flight slot, during which more records join the batch).
  std::chrono::microseconds linger{std::chrono::milliseconds(2)};
};

// Bytes a record counts toward batch and record limits: key + value + header keys and values.
size_t RecordBytes(const v1::Record& record);

struct ProducerBatch {
  TopicPartition tp;
  std::vector<v1::Record> records;
  std::vector<SendCallback> callbacks;  // callbacks[i] belongs to records[i]
  size_t bytes = 0;
  Clock::time_point created;
};

class RecordAccumulator {
 public:
  explicit RecordAccumulator(BatchOptions options) : options_(options) {}

  // Adds a record to its partition's open batch (closing that batch first when the record would not fit).
  void Append(const TopicPartition& tp, v1::Record record, SendCallback callback, Clock::time_point now);

  // Whether `tp` has a batch to send now: a closed (full) batch, or an open one that has lingered long enough,
  // or any open one when `flush` is set.
  bool HasReady(const TopicPartition& tp, Clock::time_point now, bool flush) const;
  // Removes and returns the oldest batch of `tp` if HasReady.
  std::optional<ProducerBatch> TakeReady(const TopicPartition& tp, Clock::time_point now, bool flush);

  // Partitions that hold any records.
  std::vector<TopicPartition> Partitions() const;
  // When `tp`'s oldest batch is (or was) ready: Clock::time_point::min() for a full batch, the end of the open
  // batch's linger otherwise; nullopt when `tp` holds no records.
  std::optional<Clock::time_point> ReadyTime(const TopicPartition& tp) const;

  size_t buffered_bytes() const { return buffered_bytes_; }
  size_t buffered_records() const { return buffered_records_; }
  bool empty() const { return queues_.empty(); }

 private:
  struct Queue {
    std::deque<ProducerBatch> closed;  // full batches, oldest first
    std::optional<ProducerBatch> open;
  };

  BatchOptions options_;
  std::map<TopicPartition, Queue> queues_;  // only partitions that hold records
  size_t buffered_bytes_ = 0;
  size_t buffered_records_ = 0;
};

}  // namespace brook::client
