// A node's view of its whole log: the durable LogReader below `unstable.offset`, the UnstableLog above it, and the
// commit/applied indexes. The unstable part is held in memory, and so are the most recent durable entries not yet
// applied ("recent entries", up to a byte limit): those are what a leader sends its followers and what every node
// applies next, so neither has to read them back from disk.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/log_reader.h"
#include "raft/log_unstable.h"

namespace brook::raft {

class RaftLog {
 public:
  // Invariants: applied <= committed <= LastIndex() (checked by CheckInvariants()).
  RaftLog(const LogReader* durable, Index committed, Index applied, uint64_t max_recent_bytes = 8 << 20);

  Index FirstIndex() const;
  Index LastIndex() const;
  Term LastTerm() const;
  // Term of entry i for FirstIndex()-1 <= i <= LastIndex(); errors as LogReader::TermAt.
  absl::StatusOr<Term> TermAt(Index i) const;
  bool MatchTerm(Index i, Term t) const;
  // Entries [lo, min(hi, LastIndex()+1)) up to max_bytes (at least one if any).
  absl::StatusOr<std::vector<Entry>> Slice(Index lo, Index hi, uint64_t max_bytes) const;
  // Raft's "up to date" rule (paper 5.4.1): a candidate's log (last_term, last_index) is at least as new as ours.
  bool IsUpToDate(Index last_index, Term last_term) const;
  // The largest index <= i whose term is <= term (the conflict search of fast backtracking). Reads terms only.
  Index FindConflictByTerm(Index i, Term term) const;

  // Appends entries from a leader after (prev_index, prev_term) matched; drops a conflicting suffix.
  // Returns the last index of the new entries (or prev_index if none). Trusts nothing in `entries`: their indexes
  // must be prev_index+1, prev_index+2, ... (INVALID_ARGUMENT otherwise, also when they would overflow), and a
  // conflict at or below the commit index is refused (FAILED_PRECONDITION: no leader may rewrite a committed
  // entry). On error nothing changes and nothing is allocated.
  absl::StatusOr<Index> MaybeAppend(Index prev_index, std::vector<Entry> entries);
  // The leader appends its own new entries (already numbered, starting at most at LastIndex() + 1).
  void Append(std::vector<Entry> entries);
  void CommitTo(Index index);
  void Restore(const SnapshotMeta& meta, std::string data);
  // The host made the unstable entries up to (index, term) durable (ignored when that entry was replaced since).
  // They move to the recent entries unless already applied.
  void StableTo(Index index, Term term);

  // Last index known durable and matching the current log: what a node may apply or count as its own ack.
  Index StableLastIndex() const { return unstable_.snapshot ? 0 : unstable_.offset - 1; }
  // Index of the next entry to apply; committed entries ready to apply: (applied, min(committed, stable)].
  Index ApplicableTo() const;

  const UnstableLog& unstable() const { return unstable_; }
  UnstableLog& mutable_unstable() { return unstable_; }
  const LogReader* durable() const { return durable_; }
  Index committed() const { return committed_; }
  Index applied() const { return applied_; }
  void set_applied(Index i);

  // Durable entries held in memory: contiguous, all above applied(), ending at unstable().offset - 1.
  const std::deque<Entry>& recent_entries() const { return recent_; }
  uint64_t recent_bytes() const { return recent_bytes_; }
  // INTERNAL when the recent entries break their invariants or differ from the durable log (for the simulator's
  // and the fuzzers' invariant checks: it reads the durable log, so it is not for the hot path).
  absl::Status CheckRecent() const;

 private:
  const Entry* FindRecent(Index i) const;
  void DropRecentFrom(Index i);  // Drops recent entries at or after i (they were replaced).
  void TrimRecent();             // Drops applied entries, then the oldest while over the byte limit.

  const LogReader* durable_;
  UnstableLog unstable_;
  std::deque<Entry> recent_;
  uint64_t recent_bytes_ = 0;  // Sum of recent_[k].data.size().
  uint64_t max_recent_bytes_;
  Index committed_;  // Highest index known committed. Never decreases while the node lives.
  Index applied_;    // Highest index handed to the host to apply (and acknowledged by Advance).
};

}  // namespace brook::raft
