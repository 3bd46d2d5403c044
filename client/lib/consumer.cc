#include "client/lib/consumer.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/compression.h"
#include "client/lib/errors.h"

namespace brook::client {
namespace {

// The server's longest long-poll (Limits.max_wait_ms default).
constexpr int64_t kMaxWaitMs = 30000;
// Poll rounds within one Poll call (each ends with data, an error, or its long-poll); bounds the loop.
constexpr int kMaxPollRounds = 1000;

// One Fetch of a Poll round.
struct FetchCall {
  uint32_t partition = 0;
  bool immediate = false;  // asked with max_wait_ms 0: records are known to be there, so it is never cancelled
  std::string address;
  grpc::ClientContext context;
  v1::FetchRequest request;
  v1::FetchResponse response;
  grpc::Status status;
  bool done = false;
};

// The records of a Fetch answer from `position` on, in offset order: its plain records and its compressed batches
// expanded (each CRC-checked), merged by offset.
absl::StatusOr<std::vector<v1::StoredRecord>> TakeRecords(v1::FetchResponse& response, uint64_t position) {
  std::vector<v1::StoredRecord> out;
  out.reserve(static_cast<size_t>(response.records_size()));
  for (v1::StoredRecord& rec : *response.mutable_records()) out.push_back(std::move(rec));
  if (response.compressed_batches_size() == 0) return out;
  for (const v1::CompressedBatch& batch : response.compressed_batches()) {
    if (absl::Status s = ExpandBatch(batch, position, &out); !s.ok()) return s;
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const v1::StoredRecord& a, const v1::StoredRecord& b) { return a.offset() < b.offset(); });
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(std::shared_ptr<Connection> connection,
                                                           ConsumerOptions options) {
  if (connection == nullptr) return absl::InvalidArgumentError("connection is null");
  return std::make_unique<Consumer>(std::move(connection), options);
}

Consumer::Consumer(std::shared_ptr<Connection> connection, ConsumerOptions options)
    : connection_(std::move(connection)), options_(options) {}

std::vector<uint32_t> Consumer::assignment() const {
  std::vector<uint32_t> out;
  for (const auto& [p, offset] : positions_) out.push_back(p);
  return out;
}

absl::Status Consumer::Assign(const std::string& topic, std::vector<uint32_t> partitions) {
  auto meta = connection_->Topic(topic, connection_->DefaultDeadline(), /*refresh=*/true);
  if (!meta.ok()) return meta.status();
  const uint32_t count = meta->partition_count();
  if (partitions.empty()) {
    for (uint32_t p = 0; p < count; ++p) partitions.push_back(p);
  }
  for (uint32_t p : partitions) {
    if (p >= count) {
      return absl::NotFoundError(
          absl::StrCat("topic '", topic, "' has ", count, " partitions; partition ", p, " does not exist"));
    }
  }
  topic_ = topic;
  positions_.clear();
  known_end_.clear();
  for (uint32_t p : partitions) positions_[p] = 0;
  return Seek(OffsetSpec::kLatest);
}

absl::Status Consumer::AssignPositions(const std::string& topic, std::map<uint32_t, uint64_t> positions) {
  auto meta = connection_->Topic(topic, connection_->DefaultDeadline());
  if (meta.ok() && !positions.empty() && positions.rbegin()->first >= meta->partition_count()) {
    meta = connection_->Topic(topic, connection_->DefaultDeadline(), /*refresh=*/true);  // partitions were added
  }
  if (!meta.ok()) return meta.status();
  for (const auto& [p, offset] : positions) {
    if (p >= meta->partition_count()) {
      return absl::NotFoundError(absl::StrCat("topic '", topic, "' has ", meta->partition_count(),
                                              " partitions; partition ", p, " does not exist"));
    }
  }
  topic_ = topic;
  positions_ = std::move(positions);
  return absl::OkStatus();
}

absl::Status Consumer::ListOffsetsInto(uint32_t partition, v1::ListOffsetsRequest request,
                                       v1::ListOffsetsResponse* response) {
  request.set_topic(topic_);
  request.set_partition(partition);
  return connection_->Call(
      Route::Leader(topic_, partition), connection_->DefaultDeadline(), /*idempotent=*/true,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->log->ListOffsets(ctx, request, response); });
}

absl::StatusOr<v1::ListOffsetsResponse> Consumer::ListOffsets(uint32_t partition, OffsetSpec spec) {
  v1::ListOffsetsRequest request;
  request.set_spec(spec == OffsetSpec::kEarliest ? v1::ListOffsetsRequest::EARLIEST
                                                 : v1::ListOffsetsRequest::LATEST);
  v1::ListOffsetsResponse response;
  absl::Status s = ListOffsetsInto(partition, request, &response);
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::ListOffsetsResponse> Consumer::ListOffsetsForTime(uint32_t partition, int64_t timestamp_ms) {
  v1::ListOffsetsRequest request;
  request.set_spec(v1::ListOffsetsRequest::TIMESTAMP);
  request.set_timestamp_ms(timestamp_ms);
  v1::ListOffsetsResponse response;
  absl::Status s = ListOffsetsInto(partition, request, &response);
  if (!s.ok()) return s;
  return response;
}

absl::Status Consumer::Seek(OffsetSpec spec, std::optional<uint32_t> partition) {
  if (topic_.empty()) return absl::FailedPreconditionError("Seek before Assign");
  for (auto& [p, position] : positions_) {
    if (partition && p != *partition) continue;
    auto r = ListOffsets(p, spec);
    if (!r.ok()) return r.status();
    position = r->offset();
  }
  if (partition && !positions_.count(*partition)) {
    return absl::FailedPreconditionError(absl::StrCat("partition ", *partition, " is not assigned"));
  }
  return absl::OkStatus();
}

absl::Status Consumer::Seek(uint32_t partition, uint64_t offset) {
  auto it = positions_.find(partition);
  if (it == positions_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("partition ", partition, " is not assigned"));
  }
  it->second = offset;
  return absl::OkStatus();
}

absl::Status Consumer::SeekToTimestamp(int64_t timestamp_ms, std::optional<uint32_t> partition) {
  if (topic_.empty()) return absl::FailedPreconditionError("Seek before Assign");
  for (auto& [p, position] : positions_) {
    if (partition && p != *partition) continue;
    auto r = ListOffsetsForTime(p, timestamp_ms);
    if (!r.ok()) return r.status();
    position = r->offset();
  }
  return absl::OkStatus();
}

std::optional<uint64_t> Consumer::Position(uint32_t partition) const {
  auto it = positions_.find(partition);
  if (it == positions_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<PollResult> Consumer::Poll(std::chrono::milliseconds timeout) {
  if (topic_.empty()) return absl::FailedPreconditionError("Poll before Assign");
  const Clock::time_point deadline = Clock::now() + timeout;
  Backoff backoff(connection_->options().backoff);
  PollResult result;
  absl::Status transient;    // the last retriable failure, reported if the whole Poll finds nothing else
  absl::Status final_error;  // the first failure that retrying cannot fix (e.g. NOT_FOUND, DATA_LOSS)

  for (int round = 0; round < kMaxPollRounds; ++round) {
    const auto now = Clock::now();
    const int64_t wait_ms = std::clamp<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count(), 0, kMaxWaitMs);
    // Start one long-poll per partition.
    absl::Mutex mu;
    int pending = 0;
    int immediate_pending = 0;
    bool any_data = false;
    std::vector<std::unique_ptr<FetchCall>> calls;
    for (const auto& [p, position] : positions_) {
      std::string address = connection_->LeaderAddress(topic_, p);
      if (address.empty()) {
        (void)connection_->Topic(topic_, std::max(deadline, now + std::chrono::milliseconds(1000)), true);
        address = connection_->LeaderAddress(topic_, p);
      }
      if (address.empty()) {
        transient = absl::UnavailableError(absl::StrCat("no known leader for ", topic_, "/", p));
        continue;
      }
      auto call = std::make_unique<FetchCall>();
      call->partition = p;
      call->address = address;
      call->request.set_topic(topic_);
      call->request.set_partition(p);
      call->request.set_offset(position);
      call->request.set_max_records(options_.max_records_per_fetch);
      call->request.set_max_bytes(options_.max_bytes_per_fetch);
      auto end = known_end_.find(p);
      call->immediate = end != known_end_.end() && end->second > position;
      call->request.set_max_wait_ms(call->immediate ? 0 : static_cast<uint32_t>(wait_ms));
      call->request.set_accept_compressed(options_.accept_compressed);
      // The long-poll ends on the server by wait_ms; the deadline only guards against a node that hangs.
      // A partition read without waiting holds the Poll for at most one request timeout.
      SetDeadline(&call->context, Clock::now() + std::chrono::milliseconds(call->request.max_wait_ms()) +
                                      connection_->options().request_timeout);
      calls.push_back(std::move(call));
    }
    {
      absl::MutexLock lock(&mu);
      pending = static_cast<int>(calls.size());
      for (const auto& call : calls) immediate_pending += call->immediate ? 1 : 0;
    }
    for (auto& call : calls) {
      FetchCall* c = call.get();
      connection_->Stubs(c->address)
          ->log->async()
          ->Fetch(&c->context, &c->request, &c->response,
                  [c, &mu, &pending, &immediate_pending, &any_data](grpc::Status s) {
                    absl::MutexLock lock(&mu);
                    c->status = std::move(s);
                    c->done = true;
                    --pending;
                    if (c->immediate) --immediate_pending;
                    if (!c->status.ok() || c->response.records_size() > 0 ||
                        c->response.compressed_batches_size() > 0 || c->response.has_gap() ||
                        c->response.compacted_size() > 0) {
                      any_data = true;
                    }
                  });
    }
    {
      // Wait for every partition known to have records, and for the first with something to say (or for all
      // long-polls to end), then cancel the rest: a cancelled read that had data would be read again.
      absl::MutexLock lock(&mu);
      auto first = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return immediate_pending == 0 && (pending == 0 || any_data);
      };
      mu.Await(absl::Condition(&first));
    }
    for (auto& call : calls) call->context.TryCancel();
    {
      absl::MutexLock lock(&mu);
      auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending == 0; };
      mu.Await(absl::Condition(&all));
    }

    bool retry_needed = calls.empty();
    for (auto& call : calls) {
      const uint32_t p = call->partition;
      uint64_t& position = positions_[p];
      if (call->status.ok()) {
        v1::FetchResponse& r = call->response;
        known_end_[p] = r.high_watermark();
        if (r.has_gap() && r.gap().end_offset() > position) {
          result.gaps.push_back(GapEvent{topic_, p, r.gap()});
          position = r.gap().end_offset();
        }
        const uint64_t from = position;
        auto records = TakeRecords(r, position);
        if (!records.ok()) {
          if (final_error.ok()) {
            final_error = absl::Status(
                records.status().code(),
                absl::StrCat(topic_, "/", p, " at offset ", position, ": ", records.status().message()));
          }
          continue;
        }
        for (v1::StoredRecord& rec : *records) {
          if (rec.offset() < position) continue;  // never hand out a record twice
          position = rec.offset() + 1;
          result.records.push_back(ConsumerRecord{topic_, p, std::move(rec)});
        }
        // Compacted holes (an answer may hold only holes): the answer accounts for every offset up to
        // next_offset, so the position moves there.
        for (const v1::Gap& g : r.compacted()) {
          if (g.end_offset() > from) result.compacted_skipped += g.end_offset() - std::max(g.start_offset(), from);
        }
        if (r.compacted_size() > 0 && r.next_offset() > position) position = r.next_offset();
        continue;
      }
      if (call->status.error_code() == grpc::StatusCode::CANCELLED) continue;  // cancelled by this Poll
      const ErrorInfo e = DecodeError(call->status);
      if (e.not_leader) {
        connection_->LearnLeader(*e.not_leader);
        if (e.LeaderAddress().empty()) connection_->ForgetLeader(topic_, p);
      } else if (e.code == absl::StatusCode::kUnavailable || e.code == absl::StatusCode::kDeadlineExceeded) {
        connection_->ForgetLeader(topic_, p);
      } else if (e.code == absl::StatusCode::kResourceExhausted) {
        // back off below
      } else {
        if (final_error.ok()) {
          // The message says where; the details (AccessDenied, GroupError, ...) stay for DecodeError.
          final_error =
              absl::Status(e.code, absl::StrCat(topic_, "/", p, " at offset ", position, ": ", e.message));
          ToAbslStatus(call->status).ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
            final_error.SetPayload(url, payload);
          });
        }
        continue;
      }
      transient = ToAbslStatus(call->status);
      retry_needed = true;
    }
    // Records already taken (their positions moved) are handed out first; a partition that failed for good kept
    // its position, so the next Poll meets its error again.
    if (!result.empty()) return result;
    if (!final_error.ok()) return final_error;
    if (Clock::now() >= deadline) break;
    if (retry_needed) {
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff.Next(), deadline - Clock::now()));
    }
  }
  (void)transient;  // transient errors within the timeout read as "no records yet"
  return result;
}

absl::Status Consumer::CommitOffsets(const std::string& group, const std::map<uint32_t, uint64_t>& offsets) {
  if (topic_.empty()) return absl::FailedPreconditionError("CommitOffsets before Assign");
  // One call per partition: each must reach that partition's leader.
  for (const auto& [p, offset] : offsets) {
    v1::CommitOffsetsRequest request;
    request.set_group(group);
    request.set_topic(topic_);
    v1::PartitionOffset* po = request.add_offsets();
    po->set_partition(p);
    po->set_offset(offset);
    v1::CommitOffsetsResponse response;
    absl::Status s = connection_->Call(Route::Leader(topic_, p), connection_->DefaultDeadline(),
                                       /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                         return node->groups->CommitOffsets(ctx, request, &response);
                                       });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Consumer::CommitPositions(const std::string& group) { return CommitOffsets(group, positions_); }

absl::StatusOr<std::vector<v1::GroupPartitionOffset>> Consumer::FetchOffsets(const std::string& group,
                                                                             std::vector<uint32_t> partitions) {
  if (topic_.empty()) return absl::FailedPreconditionError("FetchOffsets before Assign");
  if (partitions.empty()) partitions = assignment();
  std::vector<v1::GroupPartitionOffset> out;
  for (uint32_t p : partitions) {
    v1::FetchOffsetsRequest request;
    request.set_group(group);
    request.set_topic(topic_);
    request.add_partitions(p);
    v1::FetchOffsetsResponse response;
    absl::Status s = connection_->Call(Route::Leader(topic_, p), connection_->DefaultDeadline(),
                                       /*idempotent=*/true, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                         return node->groups->FetchOffsets(ctx, request, &response);
                                       });
    if (!s.ok()) return s;
    for (const auto& o : response.offsets()) out.push_back(o);
  }
  return out;
}

}  // namespace brook::client
