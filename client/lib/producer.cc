#include "client/lib/producer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/lib/compression.h"
#include "client/lib/errors.h"

namespace brook::client {

// One outstanding Produce call. Owned by the gRPC callback until it fires, then by answers_.
struct Producer::Rpc {
  grpc::ClientContext context;
  v1::ProduceResponse response;
  grpc::Status status;
  std::string address;
  InFlight* batch = nullptr;
};

// A batch that has been given a sequence number: sent, awaiting an answer, or awaiting a resend.
struct Producer::InFlight {
  TopicPartition tp;
  v1::ProduceRequest request;  // producer_id and sequence set; records moved in (compressed by Prepare)
  uint32_t record_count = 0;   // records in `request`, plain or compressed
  bool prepared = false;       // Prepare ran: the request's records are final (sent the same on every resend)
  std::vector<SendCallback> callbacks;
  size_t bytes = 0;
  Clock::time_point deadline;  // delivery timeout of its oldest record
  bool outstanding = false;    // a call is running
  bool sent_alone = false;     // the last call was a recovery resend, with nothing else of the partition in flight
  absl::Status error;          // the last failure, while awaiting a resend
  bool maybe_written = false;  // an attempt failed with an outcome that does not say "not written"
};

// Invariants: `batches` is in sequence order and holds every batch of the partition that is not yet acknowledged
// and not yet failed; `outstanding` counts those with a call running.
struct Producer::PartitionState {
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;  // the named identity's epoch; 0 for anonymous ids
  uint64_t next_sequence = 0;   // sequence of the next new batch
  // Whether a batch under producer_id was acknowledged. Until then one call at a time: a producer the partition
  // does not know must start at sequence 0, so a second batch that overtook the first would be refused.
  bool established = false;
  std::deque<std::unique_ptr<InFlight>> batches;
  int outstanding = 0;
  // Set by a failure; cleared when every batch of the failed round is acknowledged or failed.
  bool recovering = false;
  bool needs_resolve = false;    // a failure arrived since the last Resolve
  bool leader_hinted = false;    // a failure of this round named a new leader: resend at once
  bool only_gaps = true;         // every failure of this round was a sequence gap: resend at once
  uint32_t retry_floor_ms = 0;   // largest RetryInfo of this round
  Clock::time_point retry_at{};  // no resend before this
  Backoff backoff;
};

namespace {

// BROOK_CLIENT_DEBUG=1 logs every failed Produce call to stderr.
bool DebugLogging() {
  static const bool enabled = std::getenv("BROOK_CLIENT_DEBUG") != nullptr;
  return enabled;
}

bool IsSequenceGap(const ErrorInfo& e) {
  return e.code == absl::StatusCode::kFailedPrecondition && e.sequence_error.has_value();
}

// The least time a resend is given (producer.h says why).
constexpr std::chrono::milliseconds kMinAttempt{100};

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(std::shared_ptr<Connection> connection,
                                                           ProducerOptions options) {
  if (connection == nullptr) return absl::InvalidArgumentError("connection is null");
  if (options.max_in_flight_per_partition < 1) {
    return absl::InvalidArgumentError("max_in_flight_per_partition must be at least 1");
  }
  if (options.batch.max_batch_records < 1 || options.batch.max_batch_bytes < 1) {
    return absl::InvalidArgumentError("batch limits must be at least 1");
  }
  if (options.producer_name.empty() || !options.idempotence) {
    return std::make_unique<Producer>(std::move(connection), options);
  }
  // A named producer: the cluster gives the name its id and the next epoch, fencing earlier instances.
  v1::InitProducerRequest req;
  req.set_producer_name(options.producer_name);
  v1::InitProducerResponse resp;
  absl::Status s = connection->Call(
      Route::Controller(), connection->DefaultDeadline(), /*idempotent=*/true,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->log->InitProducer(ctx, req, &resp); });
  if (!s.ok()) return s;
  return std::make_unique<Producer>(std::move(connection), options, resp.producer_id(), resp.producer_epoch());
}

Producer::Producer(std::shared_ptr<Connection> connection, ProducerOptions options)
    : Producer(std::move(connection), std::move(options), NewProducerId(), 0) {}

Producer::Producer(std::shared_ptr<Connection> connection, ProducerOptions options, uint64_t producer_id,
                   uint32_t producer_epoch)
    : connection_(std::move(connection)),
      options_(options),
      producer_id_(producer_id),
      producer_epoch_(producer_epoch),
      accumulator_(options.batch),
      io_thread_([this] { Run(); }) {}

Producer::~Producer() { Close(); }

uint64_t Producer::NewProducerId() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^
                                          static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  uint64_t id = 0;
  // 0 means "not idempotent"; ids with the top bit set are the ones the cluster assigns (InitProducer).
  while (id == 0) id = rng() & ~(uint64_t{1} << 63);
  return id;
}

void Producer::Send(const std::string& topic, v1::Record record, SendCallback callback,
                    std::optional<uint32_t> partition) {
  const size_t bytes = RecordBytes(record);
  if (bytes > options_.max_record_bytes) {
    callback(absl::InvalidArgumentError(absl::StrCat(
        "record is ", bytes, " bytes (key + value + headers); the limit is ", options_.max_record_bytes)));
    return;
  }
  const Clock::time_point block_deadline = Clock::now() + options_.max_block;
  auto meta = connection_->Topic(topic, block_deadline);
  if (!meta.ok()) {
    callback(meta.status());
    return;
  }
  const uint32_t count =
      meta->partition_count() > 0 ? meta->partition_count() : static_cast<uint32_t>(meta->partitions_size());
  if (count == 0) {
    callback(absl::UnavailableError(absl::StrCat("topic '", topic, "' has no partitions yet")));
    return;
  }
  uint32_t p = 0;
  if (partition) {
    if (*partition >= count) {
      callback(absl::NotFoundError(absl::StrCat("topic '", topic, "' has ", count, " partitions; partition ",
                                                *partition, " does not exist")));
      return;
    }
    p = *partition;
  } else {
    p = partitioner_.Partition(record.key(), count);
  }

  absl::MutexLock lock(&mu_);
  auto has_room = [this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || unacked_bytes_ == 0 || unacked_bytes_ + bytes <= options_.buffer_bytes;
  };
  const auto wait = block_deadline - Clock::now();
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_room), absl::FromChrono(std::max(wait, Clock::duration(0))))) {
    mu_.Unlock();
    callback(
        absl::ResourceExhaustedError(absl::StrCat("the producer's buffer (", options_.buffer_bytes,
                                                  " bytes) stayed full for ", options_.max_block.count(), " ms")));
    mu_.Lock();
    return;
  }
  if (closed_) {
    mu_.Unlock();
    callback(absl::FailedPreconditionError("the producer is closed"));
    mu_.Lock();
    return;
  }
  unacked_bytes_ += bytes;
  ++unacked_records_;
  accumulator_.Append(TopicPartition{topic, p}, std::move(record), std::move(callback), Clock::now());
  wake_.Signal();
}

std::future<absl::StatusOr<RecordMetadata>> Producer::Send(const std::string& topic, v1::Record record,
                                                           std::optional<uint32_t> partition) {
  std::promise<absl::StatusOr<RecordMetadata>> promise;
  auto future = promise.get_future();
  Send(
      topic, std::move(record),
      [p = std::move(promise)](absl::StatusOr<RecordMetadata> result) mutable { p.set_value(std::move(result)); },
      partition);
  return future;
}

void Producer::Flush() {
  absl::MutexLock lock(&mu_);
  ++flushing_;
  wake_.Signal();
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return unacked_records_ == 0 || stop_; };
  mu_.Await(absl::Condition(&drained));
  --flushing_;
}

void Producer::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
  }
  Flush();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.Signal();
  }
  if (io_thread_.joinable()) io_thread_.join();
}

void Producer::InjectResponseFailuresForTesting(int count, absl::Status status) {
  absl::MutexLock lock(&mu_);
  inject_failures_ = count;
  inject_status_ = std::move(status);
}

void Producer::Fail(InFlight& f, const absl::Status& status, std::vector<Completion>& done) {
  for (SendCallback& cb : f.callbacks) done.emplace_back(std::move(cb), status);
  f.callbacks.clear();
}

void Producer::Run() {
  mu_.Lock();
  while (true) {
    std::vector<InFlight*> starts;
    std::vector<Completion> done;
    Clock::time_point now = Clock::now();

    while (!answers_.empty()) {
      std::unique_ptr<Rpc> rpc = std::move(answers_.front());
      answers_.pop_front();
      HandleAnswer(std::move(rpc), now, done);
    }
    std::vector<TopicPartition> tps = accumulator_.Partitions();
    for (const auto& [tp, ps] : partitions_) {
      if (!ps->batches.empty()) tps.push_back(tp);
    }
    std::sort(tps.begin(), tps.end());
    tps.erase(std::unique(tps.begin(), tps.end()), tps.end());
    for (const TopicPartition& tp : tps) DrivePartition(tp, now, starts, done);

    // Sleep until the earliest moment something can happen: a linger ends, a resend is due.
    Clock::time_point wake_at = now + std::chrono::milliseconds(100);
    for (const TopicPartition& tp : accumulator_.Partitions()) {
      auto it = partitions_.find(tp);
      const PartitionState* ps = it == partitions_.end() ? nullptr : it->second.get();
      if (ps != nullptr && (ps->recovering || ps->outstanding >= Window(*ps))) continue;
      if (auto t = accumulator_.ReadyTime(tp)) wake_at = std::min(wake_at, std::max(*t, now));
    }
    for (const auto& [tp, ps] : partitions_) {
      if (ps->recovering && ps->outstanding == 0 && !ps->batches.empty())
        wake_at = std::min(wake_at, ps->retry_at);
    }

    const bool finished = stop_ && accumulator_.empty() && unacked_records_ == 0;
    if (!starts.empty() || !done.empty() || finished) {
      // Start calls and run callbacks without the lock: a callback may Send, and gRPC may answer on any thread.
      // Batches in `starts` stay alive: only this thread erases batches, and only after their answer.
      mu_.Unlock();
      for (InFlight* f : starts) StartRpc(f);
      for (auto& [cb, result] : done) cb(std::move(result));
      mu_.Lock();
      if (finished) break;
      continue;
    }
    // Everything that could be sent was: only an answer, a Send, a flush or the passing of wake_at changes that.
    if (answers_.empty() && wake_at > Clock::now()) {
      wake_.WaitWithTimeout(&mu_, absl::FromChrono(wake_at - Clock::now()));
    }
  }
  mu_.Unlock();
}

Clock::duration Producer::MinAttempt() const {
  return std::min<Clock::duration>(kMinAttempt, connection_->options().request_timeout);
}

int Producer::Window(const PartitionState& ps) const {
  return ps.established || ps.producer_id == 0 ? options_.max_in_flight_per_partition : 1;
}

void Producer::DrivePartition(const TopicPartition& tp, Clock::time_point now, std::vector<InFlight*>& starts,
                              std::vector<Completion>& done) {
  auto& slot = partitions_[tp];
  if (!slot) {
    slot = std::make_unique<PartitionState>();
    slot->producer_id = options_.idempotence ? producer_id_ : 0;
    slot->producer_epoch = options_.idempotence ? producer_epoch_ : 0;
    slot->backoff = Backoff(connection_->options().backoff);
  }
  PartitionState& ps = *slot;

  if (ps.recovering) {
    if (ps.outstanding > 0) return;  // wait for every answer of the round before deciding anything
    if (ps.needs_resolve) Resolve(ps, now, done);
    if (!ps.batches.empty()) {
      if (now < ps.retry_at) return;
      InFlight* f = ps.batches.front().get();  // resend one at a time, oldest first
      if (!f->outstanding) {
        f->outstanding = true;
        f->sent_alone = true;
        ++ps.outstanding;
        starts.push_back(f);
      }
      return;
    }
    ps.recovering = false;
    ps.backoff.Reset();
  }

  const bool flush = flushing_ > 0 || stop_;
  while (ps.outstanding < Window(ps)) {
    std::optional<ProducerBatch> batch = accumulator_.TakeReady(tp, now, flush);
    if (!batch) break;
    auto f = std::make_unique<InFlight>();
    f->tp = tp;
    f->bytes = batch->bytes;
    f->deadline = batch->created + options_.delivery_timeout;
    f->callbacks = std::move(batch->callbacks);
    if (now >= f->deadline) {  // waited out its whole delivery timeout behind a failing partition
      unacked_bytes_ -= f->bytes;
      unacked_records_ -= f->callbacks.size();
      Fail(*f, absl::DeadlineExceededError("delivery timeout passed before the batch could be sent"), done);
      continue;
    }
    f->request.set_topic(tp.topic);
    f->request.set_partition(tp.partition);
    f->request.set_producer_id(ps.producer_id);
    f->request.set_producer_epoch(ps.producer_id != 0 ? ps.producer_epoch : 0);
    f->request.set_sequence(ps.producer_id != 0 ? ps.next_sequence : 0);
    f->record_count = static_cast<uint32_t>(batch->records.size());
    f->request.mutable_records()->Reserve(static_cast<int>(batch->records.size()));
    for (v1::Record& r : batch->records) *f->request.add_records() = std::move(r);
    ps.next_sequence += batch->records.size();
    f->outstanding = true;
    ++ps.outstanding;
    starts.push_back(f.get());
    ps.batches.push_back(std::move(f));
  }
}

void Producer::Resolve(PartitionState& ps, Clock::time_point now, std::vector<Completion>& done) {
  ps.needs_resolve = false;
  const bool idempotent = ps.producer_id != 0;
  // Records of batches dropped as "not written": the batches behind them move down by this much. Acknowledged
  // batches are no longer in the list but keep their sequence space (the server holds them).
  uint64_t shift = 0;
  bool broken = false;  // a batch with an unknown outcome was given up: the rest cannot keep this producer id
  // The partition does not know this producer id (it forgot it: idle for a day, or among too many producers):
  // nothing unacknowledged was written; everything is sent again under a new id from sequence 0.
  bool forgotten = false;
  std::deque<std::unique_ptr<InFlight>> kept;
  for (size_t i = 0; i < ps.batches.size(); ++i) {
    std::unique_ptr<InFlight>& f = ps.batches[i];
    const ErrorInfo e = DecodeError(f->error);
    absl::Status verdict;  // OK: resend
    bool uncertain = false;
    if (broken) {
      verdict = absl::AbortedError(absl::StrCat("an earlier batch of ", f->tp.topic, "/", f->tp.partition,
                                                " failed with an unknown outcome; not sent to keep order"));
    } else if (now + MinAttempt() > f->deadline) {
      verdict = absl::DeadlineExceededError(absl::StrCat(
          "delivery timeout passed; ", f->maybe_written ? "it may still be written" : "it was not written",
          "; last error: ", f->error.ToString()));
      uncertain = f->maybe_written;
    } else if (e.unknown_producer && idempotent) {
      forgotten = forgotten || i == 0;  // behind the first batch: a gap-like refusal, resent in order
    } else if (IsSequenceGap(e)) {
      // Not written. Expected when an earlier batch failed, or when concurrent calls overtook each other on the
      // way to the leader (separate HTTP/2 streams do not keep order): resending in order fixes both. Only a
      // gap on a batch that was sent alone, with every earlier batch acknowledged, means the partition lost
      // track of this producer: give the batch up and continue under a new producer id.
      if (i == 0 && f->sent_alone) {
        verdict = f->error;
        broken = true;
      }
    } else {
      const Retry rule = RetryRule(e.code);
      if (rule == Retry::kNever) {
        verdict = f->error;
        // Not written (e.g. INVALID_ARGUMENT): the batches behind it close the gap. Otherwise (e.g. INTERNAL) it
        // may be written: its sequence must not go to other records, which would be answered as its duplicates.
        uncertain = !CertainlyNotWritten(e);
      } else if (rule == Retry::kIfIdempotent && !idempotent) {
        verdict = f->error;
      }
    }
    if (!verdict.ok()) {
      broken = broken || (uncertain && idempotent);
      if (!broken) shift += f->record_count;
      unacked_bytes_ -= f->bytes;
      unacked_records_ -= f->callbacks.size();
      Fail(*f, verdict, done);
      continue;
    }
    if (idempotent) f->request.set_sequence(f->request.sequence() - shift);
    kept.push_back(std::move(f));
  }
  ps.batches = std::move(kept);
  if (forgotten && !broken) {
    ps.producer_id = NewProducerId();
    ps.producer_epoch = 0;
    uint64_t sequence = 0;
    for (auto& f : ps.batches) {
      f->request.set_producer_id(ps.producer_id);
      f->request.set_producer_epoch(0);
      f->request.set_sequence(sequence);
      sequence += static_cast<uint64_t>(f->request.records_size());
    }
    ps.next_sequence = sequence;
    ps.established = false;
  } else if (broken) {
    ps.producer_id = NewProducerId();
    ps.producer_epoch = 0;
    ps.next_sequence = 0;
    ps.established = false;
  } else {
    ps.next_sequence -= shift;
  }
  // A gap only says that batches overtook each other: nothing is overloaded or moving, so no backoff.
  const auto delay = ps.leader_hinted || ps.only_gaps
                         ? std::chrono::milliseconds(0)
                         : ps.backoff.Next(std::chrono::milliseconds(ps.retry_floor_ms));
  ps.retry_at = now + delay;
  // The resend leaves the oldest batch time to hear its answer before its delivery timeout.
  if (!ps.batches.empty())
    ps.retry_at = std::max(now, std::min(ps.retry_at, ps.batches.front()->deadline - MinAttempt()));
  ps.leader_hinted = false;
  ps.only_gaps = true;
  ps.retry_floor_ms = 0;
}

void Producer::HandleAnswer(std::unique_ptr<Rpc> rpc, Clock::time_point now, std::vector<Completion>& done) {
  InFlight* f = rpc->batch;
  PartitionState& ps = *partitions_.at(f->tp);
  f->outstanding = false;
  --ps.outstanding;
  if (rpc->status.ok() && inject_failures_ > 0) {
    --inject_failures_;
    rpc->status =
        grpc::Status(static_cast<grpc::StatusCode>(inject_status_.code()), std::string(inject_status_.message()));
  }
  if (rpc->status.ok()) {
    const v1::ProduceResponse& r = rpc->response;
    for (size_t i = 0; i < f->callbacks.size(); ++i) {
      done.emplace_back(std::move(f->callbacks[i]),
                        RecordMetadata{f->tp.topic, f->tp.partition, r.base_offset() + i, r.append_time_ms()});
    }
    f->callbacks.clear();
    if (f->request.producer_id() == ps.producer_id) ps.established = true;
    unacked_bytes_ -= f->bytes;
    unacked_records_ -= f->record_count;
    auto it = std::find_if(ps.batches.begin(), ps.batches.end(), [f](const auto& b) { return b.get() == f; });
    ps.batches.erase(it);
    if (!ps.recovering) ps.backoff.Reset();
    return;
  }
  f->error = ToAbslStatus(rpc->status);
  const ErrorInfo e = DecodeError(rpc->status);
  if (!CertainlyNotWritten(e)) f->maybe_written = true;
  if (DebugLogging()) {
    std::fprintf(stderr, "brook-client: produce %s/%u pid=%llu seq=%llu records=%d to %s failed: %s\n",
                 f->tp.topic.c_str(), f->tp.partition, static_cast<unsigned long long>(f->request.producer_id()),
                 static_cast<unsigned long long>(f->request.sequence()), f->record_count, rpc->address.c_str(),
                 Describe(e).c_str());
  }
  if (e.not_leader) {
    connection_->LearnLeader(*e.not_leader);
    if (!e.LeaderAddress().empty() && e.LeaderAddress() != rpc->address) {
      ps.leader_hinted = true;
    } else {
      connection_->ForgetLeader(f->tp.topic, f->tp.partition);
    }
  } else if (e.code == absl::StatusCode::kUnavailable || e.code == absl::StatusCode::kDeadlineExceeded ||
             e.code == absl::StatusCode::kNotFound) {
    connection_->ForgetLeader(f->tp.topic, f->tp.partition);  // ask the cluster again who leads
  }
  ps.retry_floor_ms = std::max(ps.retry_floor_ms, e.retry_delay_ms.value_or(0));
  if (!IsSequenceGap(e)) ps.only_gaps = false;
  ps.recovering = true;
  ps.needs_resolve = true;
  (void)now;
}

ProducerStats Producer::stats() const {
  return ProducerStats{stat_batches_.load(), stat_compressed_batches_.load(), stat_uncompressed_bytes_.load(),
                       stat_sent_bytes_.load()};
}

void Producer::Prepare(InFlight* f) {
  f->prepared = true;
  // Compressing outside mu_ keeps Send unblocked; only this thread touches a batch between its start and answer.
  auto sizes = CompressRequest(options_.compression, &f->request);
  if (!sizes.ok()) {  // cannot happen with a known codec; the batch then goes uncompressed
    if (DebugLogging())
      std::fprintf(stderr, "brook-client: compression failed: %s\n", sizes.status().ToString().c_str());
    sizes = BatchSizes{f->request.ByteSizeLong(), f->request.ByteSizeLong(), false};
  }
  stat_batches_.fetch_add(1, std::memory_order_relaxed);
  if (sizes->compressed) stat_compressed_batches_.fetch_add(1, std::memory_order_relaxed);
  stat_uncompressed_bytes_.fetch_add(sizes->uncompressed_bytes, std::memory_order_relaxed);
  stat_sent_bytes_.fetch_add(sizes->sent_bytes, std::memory_order_relaxed);
}

void Producer::StartRpc(InFlight* f) {
  if (!f->prepared) Prepare(f);
  auto rpc = std::make_unique<Rpc>();
  rpc->batch = f;
  const auto now = Clock::now();
  rpc->address = connection_->LeaderAddress(f->tp.topic, f->tp.partition);
  if (rpc->address.empty()) {
    // Learn the leader; an election may still be running, in which case the batch is retried with backoff.
    (void)connection_->Topic(f->tp.topic, std::min(f->deadline, now + connection_->options().request_timeout),
                             /*refresh=*/true);
    rpc->address = connection_->LeaderAddress(f->tp.topic, f->tp.partition);
  }
  if (rpc->address.empty()) {
    rpc->status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               absl::StrCat("no known leader for ", f->tp.topic, "/", f->tp.partition));
    absl::MutexLock lock(&mu_);
    answers_.push_back(std::move(rpc));
    wake_.Signal();
    return;
  }
  SetDeadline(&rpc->context, std::min(f->deadline, now + connection_->options().request_timeout));
  NodeStubs* node = connection_->Stubs(rpc->address);
  Rpc* raw = rpc.release();  // owned by the callback until it fires
  node->log->async()->Produce(&raw->context, &f->request, &raw->response, [this, raw](grpc::Status status) {
    std::unique_ptr<Rpc> owned(raw);
    owned->status = std::move(status);
    absl::MutexLock lock(&mu_);
    answers_.push_back(std::move(owned));
    wake_.Signal();
  });
}

}  // namespace brook::client
