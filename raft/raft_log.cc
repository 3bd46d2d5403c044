#include "raft/raft_log.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "raft/message.h"

namespace brook::raft {

RaftLog::RaftLog(const LogReader* durable, Index committed, Index applied, uint64_t max_recent_bytes)
    : durable_(durable), max_recent_bytes_(max_recent_bytes), committed_(committed), applied_(applied) {
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
  if (const Entry* e = FindRecent(i)) return e->term;
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
  // Three stretches, oldest first: the durable log (read from the LogReader), the recent entries (durable, held in
  // memory), the unstable entries. Copies of the in-memory ones share their data.
  const Index recent_first = recent_.empty() ? unstable_.offset : recent_.front().index;
  if (lo < recent_first) {
    const Index durable_hi = std::min(hi, recent_first);
    auto durable = durable_->Entries(lo, durable_hi, max_bytes);
    if (!durable.ok()) return durable.status();
    out = std::move(*durable);
    for (const Entry& e : out) bytes += e.data.size();
    if (out.empty() || out.back().index + 1 < durable_hi) return out;  // Byte limit reached.
  }
  auto take = [&](const Entry& e) {
    if (!out.empty() && bytes + e.data.size() > max_bytes) return false;
    bytes += e.data.size();
    out.push_back(e);
    return true;
  };
  for (Index i = std::max(lo, recent_first); i < std::min(hi, unstable_.offset); ++i) {
    if (!take(recent_[i - recent_first])) return out;
  }
  for (Index i = std::max(lo, unstable_.offset); i < hi; ++i) {
    if (!take(unstable_.entries[i - unstable_.offset])) return out;
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
  const Index first_replaced = entries[k].index;
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(k));
  if (!unstable_.TruncateAndAppend(std::move(entries))) {
    // Unreachable: entries[k] - 1 matched, so it is at most LastIndex().
    return absl::InternalError(absl::StrCat("append after index ", prev_index, " would leave a gap"));
  }
  DropRecentFrom(first_replaced);
  return last_new;
}

void RaftLog::Append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const Index first = entries.front().index;
  if (unstable_.TruncateAndAppend(std::move(entries))) DropRecentFrom(first);
}

void RaftLog::CommitTo(Index index) {
  if (index > committed_) committed_ = std::min(index, LastIndex());
}

void RaftLog::Restore(const SnapshotMeta& meta, std::string data) {
  unstable_.Restore(meta, std::move(data));
  committed_ = meta.index;
  recent_.clear();
  recent_bytes_ = 0;
}

void RaftLog::StableTo(Index index, Term term) {
  if (!unstable_.Contains(index) || unstable_.entries[index - unstable_.offset].term != term) return;
  // The recent entries end right below unstable_.offset (every truncation below it dropped theirs), so the newly
  // durable entries extend them.
  for (Index i = unstable_.offset; i <= index; ++i) {
    Entry& e = unstable_.entries[i - unstable_.offset];
    if (e.index <= applied_) continue;
    recent_bytes_ += e.data.size();
    recent_.push_back(std::move(e));
  }
  unstable_.StableTo(index, term);
  TrimRecent();
}

void RaftLog::set_applied(Index i) {
  applied_ = i;
  TrimRecent();
}

const Entry* RaftLog::FindRecent(Index i) const {
  if (recent_.empty() || i < recent_.front().index || i > recent_.back().index) return nullptr;
  return &recent_[i - recent_.front().index];
}

void RaftLog::DropRecentFrom(Index i) {
  while (!recent_.empty() && recent_.back().index >= i) {
    recent_bytes_ -= recent_.back().data.size();
    recent_.pop_back();
  }
}

void RaftLog::TrimRecent() {
  while (!recent_.empty() && (recent_.front().index <= applied_ || recent_bytes_ > max_recent_bytes_)) {
    recent_bytes_ -= recent_.front().data.size();
    recent_.pop_front();
  }
}

absl::Status RaftLog::CheckRecent() const {
  if (recent_.empty()) {
    if (recent_bytes_ != 0)
      return absl::InternalError(absl::StrCat("no recent entries but ", recent_bytes_, " bytes"));
    return absl::OkStatus();
  }
  uint64_t bytes = 0;
  for (size_t k = 0; k < recent_.size(); ++k) {
    const Entry& e = recent_[k];
    if (e.index != recent_.front().index + k) {
      return absl::InternalError(
          absl::StrCat("recent entry ", k, " has index ", e.index, "; expected ", recent_.front().index + k));
    }
    if (e.index <= applied_) {
      return absl::InternalError(absl::StrCat("recent entry ", e.index, " is applied (applied ", applied_, ")"));
    }
    bytes += e.data.size();
  }
  if (bytes != recent_bytes_ || bytes > max_recent_bytes_) {
    return absl::InternalError(absl::StrCat("recent entries hold ", bytes, " bytes; counted ", recent_bytes_,
                                            ", limit ", max_recent_bytes_));
  }
  if (recent_.back().index + 1 != unstable_.offset) {
    return absl::InternalError(absl::StrCat("recent entries end at ", recent_.back().index,
                                            " but the unstable log starts at ", unstable_.offset));
  }
  auto durable =
      durable_->Entries(recent_.front().index, recent_.back().index + 1, std::numeric_limits<uint64_t>::max());
  if (!durable.ok())
    return absl::InternalError(absl::StrCat("reading the recent entries back: ", durable.status().message()));
  if (durable->size() != recent_.size()) {
    return absl::InternalError(
        absl::StrCat("the durable log holds ", durable->size(), " of the ", recent_.size(), " recent entries"));
  }
  for (size_t k = 0; k < recent_.size(); ++k) {
    if (!((*durable)[k] == recent_[k])) {
      return absl::InternalError(absl::StrCat("recent entry ", DescribeEntry(recent_[k]),
                                              " differs from the durable ", DescribeEntry((*durable)[k])));
    }
  }
  return absl::OkStatus();
}

Index RaftLog::ApplicableTo() const { return std::min(committed_, StableLastIndex()); }

}  // namespace brook::raft
