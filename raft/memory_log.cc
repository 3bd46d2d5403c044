#include "raft/memory_log.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace brook::raft {

absl::StatusOr<std::vector<Entry>> MemoryLog::Entries(Index lo, Index hi, uint64_t max_bytes) const {
  if (lo < FirstIndex()) return absl::FailedPreconditionError(absl::StrCat("index ", lo, " is compacted"));
  if (hi > LastIndex() + 1) return absl::OutOfRangeError(absl::StrCat("index ", hi - 1, " is beyond the log"));
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - FirstIndex()];
    bytes += e.data.size();
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<Term> MemoryLog::TermAt(Index i) const {
  if (i == snapshot_.index) return snapshot_.term;
  if (i < snapshot_.index) return absl::FailedPreconditionError(absl::StrCat("index ", i, " is compacted"));
  if (i > LastIndex()) return absl::OutOfRangeError(absl::StrCat("index ", i, " is beyond the log"));
  return entries_[i - FirstIndex()].term;
}

absl::Status MemoryLog::Append(std::span<const Entry> entries) {
  if (entries.empty()) return absl::OkStatus();
  const Index first = entries.front().index;
  if (first < FirstIndex() || first > LastIndex() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("append at ", first, " to log [", FirstIndex(), ", ", LastIndex(), "]"));
  }
  Truncate(first);
  for (const Entry& e : entries) entries_.push_back(e);
  return absl::OkStatus();
}

void MemoryLog::Truncate(Index i) {
  while (!entries_.empty() && LastIndex() >= i && LastIndex() >= FirstIndex()) entries_.pop_back();
}

void MemoryLog::ApplySnapshot(const SnapshotMeta& meta, std::string data) {
  entries_.clear();
  snapshot_ = meta;
  snapshot_data_ = std::move(data);
}

absl::Status MemoryLog::Compact(Index index, const ConfState& conf, std::string data) {
  if (index <= snapshot_.index) return absl::OkStatus();
  if (index > LastIndex()) return absl::OutOfRangeError(absl::StrCat("compact to ", index, " beyond the log"));
  const Entry& last = entries_[index - FirstIndex()];
  SnapshotMeta meta{.index = index, .term = last.term, .next_offset = last.end_offset(), .conf = conf};
  while (FirstIndex() <= index) {
    entries_.pop_front();
    ++snapshot_.index;
  }
  snapshot_ = meta;
  snapshot_data_ = std::move(data);
  return absl::OkStatus();
}

}  // namespace brook::raft
