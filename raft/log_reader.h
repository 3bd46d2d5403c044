// The Raft core's read-only view of a group's DURABLE log. The host implements it (over RocksDB in server/; over
// memory in MemoryLog for tests and the simulator) and keeps it alive as long as the RaftNode. The core reads
// through it on demand, so a group's log need not fit in memory; the core itself holds only entries it has not
// yet handed to the host for persistence (log_unstable.h).
//
// Contract: the view changes only between calls into the RaftNode, and only by the host applying a Ready
// (append, truncate, install snapshot) or compacting a prefix the node has applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace brook::raft {

class LogReader {
 public:
  virtual ~LogReader() = default;

  // Entries [lo, hi), stopping before the entry that would make the total data size exceed max_bytes, but always
  // at least one entry if lo < hi. FAILED_PRECONDITION if lo < FirstIndex() (compacted); OUT_OF_RANGE if
  // hi > LastIndex() + 1.
  virtual absl::StatusOr<std::vector<Entry>> Entries(Index lo, Index hi, uint64_t max_bytes) const = 0;

  // Term of entry i, for FirstIndex()-1 <= i <= LastIndex() (i = FirstIndex()-1 answers from Snapshot()).
  // FAILED_PRECONDITION if compacted, OUT_OF_RANGE if beyond the end.
  virtual absl::StatusOr<Term> TermAt(Index i) const = 0;

  // First index present: Snapshot().index + 1 (1 for a log that was never compacted).
  virtual Index FirstIndex() const = 0;
  // Last index present; FirstIndex() - 1 when the log is empty.
  virtual Index LastIndex() const = 0;

  // Where the log starts: the last dropped entry (index 0, term 0, offset 0 if nothing was dropped) and the
  // membership as of that entry.
  virtual SnapshotMeta Snapshot() const = 0;
  // Opaque state-machine bytes that go with Snapshot(), sent to followers in kSnapshot. May be empty.
  virtual std::string SnapshotData() const = 0;
};

}  // namespace brook::raft
