#include "client/lib/record_accumulator.h"

#include <algorithm>

namespace brook::client {

size_t RecordBytes(const v1::Record& record) {
  size_t bytes = record.key().size() + record.value().size();
  for (const auto& h : record.headers()) bytes += h.key().size() + h.value().size();
  return bytes;
}

void RecordAccumulator::Append(const TopicPartition& tp, v1::Record record, SendCallback callback,
                               Clock::time_point now) {
  const size_t bytes = RecordBytes(record);
  Queue& q = queues_[tp];
  if (q.open && (q.open->bytes + bytes > options_.max_batch_bytes ||
                 q.open->records.size() + 1 > options_.max_batch_records)) {
    q.closed.push_back(std::move(*q.open));
    q.open.reset();
  }
  if (!q.open) {
    q.open.emplace();
    q.open->tp = tp;
    q.open->created = now;
  }
  q.open->records.push_back(std::move(record));
  q.open->callbacks.push_back(std::move(callback));
  q.open->bytes += bytes;
  buffered_bytes_ += bytes;
  ++buffered_records_;
  if (q.open->bytes >= options_.max_batch_bytes || q.open->records.size() >= options_.max_batch_records) {
    q.closed.push_back(std::move(*q.open));
    q.open.reset();
  }
}

bool RecordAccumulator::HasReady(const TopicPartition& tp, Clock::time_point now, bool flush) const {
  auto it = queues_.find(tp);
  if (it == queues_.end()) return false;
  const Queue& q = it->second;
  if (!q.closed.empty()) return true;
  return q.open && (flush || now - q.open->created >= options_.linger);
}

std::optional<ProducerBatch> RecordAccumulator::TakeReady(const TopicPartition& tp, Clock::time_point now,
                                                          bool flush) {
  if (!HasReady(tp, now, flush)) return std::nullopt;
  auto it = queues_.find(tp);
  Queue& q = it->second;
  ProducerBatch batch;
  if (!q.closed.empty()) {
    batch = std::move(q.closed.front());
    q.closed.pop_front();
  } else {
    batch = std::move(*q.open);
    q.open.reset();
  }
  if (q.closed.empty() && !q.open) queues_.erase(it);
  buffered_bytes_ -= batch.bytes;
  buffered_records_ -= batch.records.size();
  return batch;
}

std::vector<TopicPartition> RecordAccumulator::Partitions() const {
  std::vector<TopicPartition> out;
  out.reserve(queues_.size());
  for (const auto& [tp, q] : queues_) out.push_back(tp);
  return out;
}

std::optional<Clock::time_point> RecordAccumulator::ReadyTime(const TopicPartition& tp) const {
  auto it = queues_.find(tp);
  if (it == queues_.end()) return std::nullopt;
  const Queue& q = it->second;
  if (!q.closed.empty()) return Clock::time_point::min();
  return q.open->created + options_.linger;
}

}  // namespace brook::client
