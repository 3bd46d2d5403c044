#include "raft/raft_log.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "raft/message.h"

namespace brook::raft {

RaftLog::RaftLog(const LogReader* durable, Index committed, Index applied)
    : durable_(durable), committed_(committed), applied_(applied) {
  unstable_.offset = durable_->LastIndex() + 1;
  const Index first_minus_one = durable_->FirstIndex() - 1;
  // A restored commit or applied index may lag the snapshot the log starts at: everything in the snapshot is
  // committed and (by the host's state machine) applied.
  committed_ = std::clamp(committed_, first_minus_one, LastIndex());
  applied_ = std::clamp(applied_, first_minus_one, committed_);
}

Index RaftLog::FirstIndex() const {
  if (unstable_.snapshot) return unstable_.snapshot->index + 1;
  return durable_->FirstIndex();
}

Index RaftLog::LastIndex() const {
  if (!unstable_.entries.empty() || unstable_.snapshot) return unstable_.LastIndex();
  // Nothing unstable: the durable log, but never beyond a pending truncation point.
  return std::min(durable_->LastIndex(), unstable_.offset - 1);
}

Term RaftLog::LastTerm() const {
  auto t = TermAt(LastIndex());
  return t.ok() ? *t : 0;
}

absl::StatusOr<Term> RaftLog::TermAt(Index i) const {
  if (unstable_.Contains(i)) return unstable_.entries[i - unstable_.offset].term;
  if (unstable_.snapshot) {
    if (i == unstable_.snapshot->index) return unstable_.snapshot->term;
    if (i < unstable_.snapshot->index)
      return absl::FailedPreconditionError(absl::StrCat("index ", i, " compacted"));
    return absl::OutOfRangeError(absl::StrCat("index ", i, " beyond the log"));
  }
  if (i >= unstable_.offset) return absl::OutOfRangeError(absl::StrCat("index ", i, " beyond the log"));
  return durable_->TermAt(i);
}

bool RaftLog::MatchTerm(Index i, Term t) const {
  auto term = TermAt(i);
  return term.ok() && *term == t;
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(Index lo, Index hi, uint64_t max_bytes) const {
  hi = std::min(hi, LastIndex() + 1);
  if (lo < FirstIndex()) return absl::FailedPreconditionError(absl::StrCat("index ", lo, " compacted"));
  std::vector<Entry> out;
  if (lo >= hi) return out;
  uint64_t bytes = 0;
  if (lo < unstable_.offset) {
    auto durable = durable_->Entries(lo, std::min(hi, unstable_.offset), max_bytes);
    if (!durable.ok()) return durable.status();
    out = std::move(*durable);
    for (const Entry& e : out) bytes += e.data.size();
    if (out.empty() || out.back().index + 1 < std::min(hi, unstable_.offset)) return out;  // Byte limit reached.
  }
  for (Index i = std::max(lo, unstable_.offset); i < hi; ++i) {
    const Entry& e = unstable_.entries[i - unstable_.offset];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

bool RaftLog::IsUpToDate(Index last_index, Term last_term) const {
  const Term our_term = LastTerm();
  return last_term > our_term || (last_term == our_term && last_index >= LastIndex());
}

Index RaftLog::FindConflictByTerm(Index i, Term term) const {
  for (; i > 0; --i) {
    auto t = TermAt(i);
    // Unknown (compacted) terms: stop; the caller falls back to what it knows.
    if (!t.ok() || *t <= term) return i;
  }
  return 0;
}

absl::StatusOr<Index> RaftLog::MaybeAppend(Index prev_index, std::vector<Entry> entries) {
  if (entries.size() > std::numeric_limits<Index>::max() - prev_index) {
    return absl::InvalidArgumentError(
        absl::StrCat(entries.size(), " entries after index ", prev_index, " overflow the index space"));
  }
  const Index last_new = prev_index + entries.size();
  for (size_t k = 0; k < entries.size(); ++k) {
    if (entries[k].index != prev_index + 1 + k) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", k, " after index ", prev_index, " claims index ",
                                                     entries[k].index, "; expected ", prev_index + 1 + k));
    }
  }
  // Skip the prefix we already hold; the first mismatch (if any) and everything after it replace our suffix.
  size_t k = 0;
  while (k < entries.size() && MatchTerm(entries[k].index, entries[k].term)) ++k;
  if (k == entries.size()) return last_new;
  if (entries[k].index <= committed_) {
    // Raft never overwrites a committed entry: a sender asking for that is broken or lying.
    return absl::FailedPreconditionError(absl::StrCat(
        "entry ", DescribeEntry(entries[k]), " conflicts with the committed prefix (commit ", committed_, ")"));
  }
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(k));
  if (!unstable_.TruncateAndAppend(std::move(entries))) {
    // Unreachable: entries[k] - 1 matched, so it is at most LastIndex().
    return absl::InternalError(absl::StrCat("append after index ", prev_index, " would leave a gap"));
  }
  return last_new;
}

void RaftLog::CommitTo(Index index) {
  if (index > committed_) committed_ = std::min(index, LastIndex());
}

void RaftLog::Restore(const SnapshotMeta& meta, std::string data) {
  unstable_.Restore(meta, std::move(data));
  committed_ = meta.index;
}

Index RaftLog::ApplicableTo() const { return std::min(committed_, StableLastIndex()); }

}  // namespace brook::raft
