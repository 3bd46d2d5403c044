// Asynchronous, batching, idempotent producer.
//
// Send() hands a record to a per-partition batch and returns at once; one I/O thread per producer sends ready
// batches (full, or lingered `batch.linger`) to each partition's leader, at most `max_in_flight_per_partition`
// requests per partition at a time, and reports every record's offset through its callback or future.
//
// Ordering and exactly-once delivery per partition (docs/decisions.md D7): every request carries this producer's
// random 64-bit id and the sequence number of its first record, numbered per partition 0, 1, 2, ... The server
// rejects a batch that skips ahead (SequenceError) and answers a retry of a recent batch with its original
// offsets, so several batches may be in flight and a retry never duplicates. When any request of a partition
// fails, the partition stops sending, waits for all of its outstanding answers, then resends the unacknowledged
// batches in sequence order, one at a time, before it resumes pipelining. A batch refused for good
// (INVALID_ARGUMENT, NOT_FOUND, ...: CertainlyNotWritten) was not written: the batches behind it are renumbered to
// close the gap. A batch that fails for good with an outcome that is not known (e.g. INTERNAL), or whose delivery
// timeout passes after any attempt with an unknown outcome, fails, as do the batches behind it, and the partition
// continues under a fresh producer id (Kafka's epoch bump). A resend is scheduled to leave at least 100 ms of the
// delivery timeout (kMinAttempt), so that its answer, not a timeout on the client, decides what the failure says:
// DEADLINE_EXCEEDED "it was not written" (the sequence is reused) or "it may still be written".
//
// Thread-safe. Callbacks run on the producer's I/O thread: they must be short and must not block (they may call
// Send as long as the buffer is not full).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/backoff.h"
#include "client/lib/connection.h"
#include "client/lib/partitioner.h"
#include "client/lib/record_accumulator.h"

namespace brook::client {

struct ProducerOptions {
  BatchOptions batch;
  // Produce requests outstanding per partition. With idempotence, values above 1 keep order (see above).
  // Without idempotence use 1 if order under retries matters.
  int max_in_flight_per_partition = 5;
  // Producer id and sequence numbers on every request (docs/decisions.md D7). Off: producer_id 0, retries may
  // duplicate.
  bool idempotence = true;
  // A stable name for this logical producer (e.g. "billing-exporter-3"), the same for every instance. Create asks
  // the cluster for the name's id and the next epoch (Log.InitProducer): once a partition sees the new epoch,
  // every write of an earlier instance is refused (ProducerFenced), so a zombie cannot write after its replacement
  // started. Empty: a random id. A partition this producer gives up on continues under a random id.
  std::string producer_name;
  // A record fails with DEADLINE_EXCEEDED when it is not acknowledged this long after Send, retries included.
  std::chrono::milliseconds delivery_timeout{30000};
  // Send blocks while this many bytes of records wait to be acknowledged, at most `max_block`, then fails with
  // RESOURCE_EXHAUSTED. Also the longest Send waits for the topic's metadata.
  size_t buffer_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds max_block{30000};
  // Records larger than this fail at once with INVALID_ARGUMENT (the server's Limits.max_record_bytes; a larger
  // record would fail its whole batch).
  size_t max_record_bytes = 1024 * 1024;
  // Compresses each batch (COMPRESSION_LZ4 or COMPRESSION_ZSTD) on the I/O thread before its first send; the
  // partition stores and serves it compressed (docs/api.md "Compression"). A batch whose records serialize to more
  // than the server's max_batch_bytes (4 MiB) goes uncompressed. Default: none.
  v1::Compression compression = v1::COMPRESSION_NONE;
};

// What a producer has sent so far (each batch counted once, at its first send): how well compression did.
struct ProducerStats {
  uint64_t batches = 0;
  uint64_t compressed_batches = 0;
  // The batches' records serialized (a RecordList each), and what went on the wire for them instead: the
  // compressed bytes, or the same serialized size for a batch sent uncompressed.
  uint64_t uncompressed_bytes = 0;
  uint64_t sent_bytes = 0;
};

class Producer {
 public:
  // Starts the I/O thread. No network I/O until the first Send.
  // With a producer_name, blocks for the InitProducer call (up to the connection's call timeout).
  static absl::StatusOr<std::unique_ptr<Producer>> Create(std::shared_ptr<Connection> connection,
                                                          ProducerOptions options = {});
  Producer(std::shared_ptr<Connection> connection, ProducerOptions options);
  Producer(std::shared_ptr<Connection> connection, ProducerOptions options, uint64_t producer_id,
           uint32_t producer_epoch);
  ~Producer();  // Close()

  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues `record` for `topic`: to `partition` when given, else by key hash (partitioner.h) or round-robin.
  // Blocks only to learn a topic's partition count (first Send to a topic) or while the buffer is full.
  // `callback` gets the record's offset or the error that ended its delivery, exactly once.
  void Send(const std::string& topic, v1::Record record, SendCallback callback,
            std::optional<uint32_t> partition = std::nullopt);
  std::future<absl::StatusOr<RecordMetadata>> Send(const std::string& topic, v1::Record record,
                                                   std::optional<uint32_t> partition = std::nullopt);

  // Sends everything queued without waiting for linger and blocks until every record sent before the call is
  // acknowledged or failed.
  void Flush();
  // Flush, then stop the I/O thread. Later Sends fail with FAILED_PRECONDITION. Idempotent.
  void Close();

  uint64_t producer_id() const { return producer_id_; }
  uint32_t producer_epoch() const { return producer_epoch_; }
  // Thread-safe; counters only grow.
  ProducerStats stats() const;

  // Test hook: fail the next `count` Produce answers with `status` after the server has acted on them (the
  // records are written but the client sees an error), to prove that the resulting retries do not duplicate.
  void InjectResponseFailuresForTesting(int count, absl::Status status);

 private:
  struct Rpc;
  struct InFlight;
  struct PartitionState;
  using Completion = std::pair<SendCallback, absl::StatusOr<RecordMetadata>>;

  void Run();
  // Under mu_: sends what may be sent for `tp`; appends RPCs to start to `starts`.
  void DrivePartition(const TopicPartition& tp, Clock::time_point now, std::vector<InFlight*>& starts,
                      std::vector<Completion>& done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_: decides, after all answers of a failed round are in, which batches to resend and how.
  void Resolve(PartitionState& ps, Clock::time_point now, std::vector<Completion>& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleAnswer(std::unique_ptr<Rpc> rpc, Clock::time_point now, std::vector<Completion>& done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(InFlight& f, const absl::Status& status, std::vector<Completion>& done);
  // Calls a partition may have outstanding now (1 until its producer id is established).
  int Window(const PartitionState& ps) const;
  // Time a resend is given at least, if its delivery timeout allows (kMinAttempt or the request timeout).
  Clock::duration MinAttempt() const;
  // Without mu_: picks the leader and starts the asynchronous call.
  void StartRpc(InFlight* f);
  // Without mu_, on the I/O thread, before a batch's first call: compresses it when configured, counts it.
  void Prepare(InFlight* f);
  uint64_t NewProducerId();

  const std::shared_ptr<Connection> connection_;
  const ProducerOptions options_;
  const uint64_t producer_id_;
  const uint32_t producer_epoch_;
  Partitioner partitioner_;

  absl::Mutex mu_;
  absl::CondVar wake_;  // the I/O thread waits on it: new records, answers, flush, close
  RecordAccumulator accumulator_ ABSL_GUARDED_BY(mu_);
  std::map<TopicPartition, std::unique_ptr<PartitionState>> partitions_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<Rpc>> answers_ ABSL_GUARDED_BY(mu_);  // filled by gRPC threads
  size_t unacked_bytes_ ABSL_GUARDED_BY(mu_) = 0;                  // queued + in flight
  size_t unacked_records_ ABSL_GUARDED_BY(mu_) = 0;
  int flushing_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int inject_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status inject_status_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> stat_batches_{0};
  std::atomic<uint64_t> stat_compressed_batches_{0};
  std::atomic<uint64_t> stat_uncompressed_bytes_{0};
  std::atomic<uint64_t> stat_sent_bytes_{0};
  std::thread io_thread_;
};

}  // namespace brook::client
