// An in-memory LogReader with the mutations a host performs, for tests, the simulator and the benchmark.
// Not thread-safe; O(1) term lookups; Entries() copies.
#pragma once

#include <deque>
#include <span>

#include "raft/log_reader.h"

namespace brook::raft {

class MemoryLog final : public LogReader {
 public:
  MemoryLog() = default;

  absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const override;
  absl::StatusOr<Term> TermAt(Index i) const override;
  Index FirstIndex() const override { return snapshot_.index + 1; }
  Index LastIndex() const override { return snapshot_.index + entries_.size(); }
  SnapshotMeta Snapshot() const override { return snapshot_; }
  std::string SnapshotData() const override { return snapshot_data_; }

  // Appends `entries` (consecutive indexes), first dropping every entry at or after entries[0].index: what a host
  // does with Ready::entries. INVALID_ARGUMENT if entries[0].index would leave a gap or cut into the snapshot.
  absl::Status Append(std::span<const Entry> entries);
  // Drops entries with index >= i.
  void Truncate(Index i);
  // Replaces the whole log: what a host does with Ready::snapshot.
  void ApplySnapshot(const SnapshotMeta& meta, std::string data);
  // Drops entries <= index (which must be present), recording `conf` (the membership as of index) and `data` for
  // kSnapshot messages. The host calls this only for applied indexes.
  absl::Status Compact(Index index, const ConfState& conf, std::string data = "");

  // Base offset the next entry after LastIndex() would get.
  Offset NextOffset() const { return entries_.empty() ? snapshot_.next_offset : entries_.back().end_offset(); }

 private:
  SnapshotMeta snapshot_;
  std::string snapshot_data_;
  std::deque<Entry> entries_;  // entries_[k].index == snapshot_.index + 1 + k.
};

}  // namespace brook::raft
