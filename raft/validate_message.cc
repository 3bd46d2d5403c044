#include "raft/validate_message.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/conf_change.h"

namespace brook::raft {
namespace {

// The fields a message type carries; every other field must be zero or empty.
enum Field : uint32_t {
  kLogTerm = 1 << 0,
  kIndex = 1 << 1,
  kEntries = 1 << 2,
  kCommit = 1 << 3,
  kReject = 1 << 4,
  kHints = 1 << 5,
  kSnap = 1 << 6,
  kContext = 1 << 7,
};

uint32_t CarriedFields(MessageType t) {
  switch (t) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      return kLogTerm | kIndex | kContext;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse:
      return kReject;
    case MessageType::kAppend:
      return kLogTerm | kIndex | kEntries | kCommit;
    case MessageType::kAppendResponse:
      return kIndex | kReject | kHints;
    case MessageType::kHeartbeat:
      return kCommit | kContext;
    case MessageType::kHeartbeatResponse:
      return kContext;
    case MessageType::kSnapshot:
      return kSnap;
    case MessageType::kTimeoutNow:
      return 0;
  }
  return 0;
}

bool KnownType(MessageType t) { return static_cast<uint8_t>(t) <= static_cast<uint8_t>(MessageType::kTimeoutNow); }
bool KnownType(EntryType t) { return static_cast<uint8_t>(t) <= static_cast<uint8_t>(EntryType::kConfChange); }

// Sent only by a leader of m.term.
bool IsLeaderTraffic(MessageType t) {
  return t == MessageType::kAppend || t == MessageType::kHeartbeat || t == MessageType::kSnapshot ||
         t == MessageType::kTimeoutNow;
}
bool IsVoteRequest(MessageType t) { return t == MessageType::kPreVote || t == MessageType::kVote; }
bool IsVoteResponse(MessageType t) {
  return t == MessageType::kPreVoteResponse || t == MessageType::kVoteResponse;
}
bool IsFollowerResponse(MessageType t) {
  return t == MessageType::kAppendResponse || t == MessageType::kHeartbeatResponse;
}

bool Contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}
bool IsVoter(const ConfState& c, NodeId id) { return Contains(c.voters, id) || Contains(c.voters_outgoing, id); }
bool IsMember(const ConfState& c, NodeId id) { return IsVoter(c, id) || Contains(c.learners, id); }
bool KnowsNoConfiguration(const ConfState& c) {
  return c.voters.empty() && c.learners.empty() && c.voters_outgoing.empty();
}

// Carries the reason out with the status.
class Verdict {
 public:
  explicit Verdict(DropReason* reason) : reason_(reason) {}
  absl::Status Invalid(DropReason r, std::string what) {
    if (reason_) *reason_ = r;
    return absl::InvalidArgumentError(std::move(what));
  }
  absl::Status Refused(DropReason r, std::string what) {
    if (reason_) *reason_ = r;
    return absl::FailedPreconditionError(std::move(what));
  }

 private:
  DropReason* reason_;
};

std::string Name(const Message& m) { return absl::StrCat(MessageTypeName(m.type), " from n", m.from); }

absl::Status CheckAddress(const Message& m, const ReceiverView& self, Verdict& v) {
  if (!KnownType(m.type)) {
    return v.Invalid(DropReason::kMalformed,
                     absl::StrCat("unknown message type ", static_cast<int>(m.type), " from n", m.from));
  }
  if (m.to != self.id) {
    return v.Invalid(DropReason::kMisaddressed, absl::StrCat(Name(m), " is for n", m.to, ", not n", self.id));
  }
  if (m.from == self.id || m.from == kNoNode) {
    return v.Invalid(DropReason::kMisaddressed, absl::StrCat(Name(m), ": a node never sends to itself"));
  }
  return absl::OkStatus();
}

absl::Status CheckFields(const Message& m, Verdict& v) {
  const uint32_t carried = CarriedFields(m.type);
  auto stray = [&](Field f, bool set, const char* field) -> absl::Status {
    if (set && !(carried & f)) {
      return v.Invalid(DropReason::kMalformed, absl::StrCat(Name(m), " carries ", field));
    }
    return absl::OkStatus();
  };
  for (absl::Status s : {stray(kLogTerm, m.log_term != 0, "log_term"), stray(kIndex, m.index != 0, "index"),
                         stray(kEntries, !m.entries.empty(), "entries"), stray(kCommit, m.commit != 0, "commit"),
                         stray(kReject, m.reject, "reject"),
                         stray(kHints, m.reject_hint != 0 || m.reject_hint_term != 0, "a reject hint"),
                         stray(kSnap, m.snapshot != SnapshotMeta{} || !m.snapshot_data.empty(), "a snapshot"),
                         stray(kContext, m.context != 0, "context")}) {
    if (!s.ok()) return s;
  }
  if (m.index > kMaxIndex || m.commit > kMaxIndex || m.reject_hint > kMaxIndex) {
    return v.Invalid(DropReason::kMalformed, absl::StrCat(Name(m), ": index beyond ", kMaxIndex));
  }
  if (m.log_term > m.term || m.reject_hint_term > m.term) {
    return v.Invalid(DropReason::kMalformed,
                     absl::StrCat(Name(m), ": a log term above the message term ", m.term));
  }
  if (IsVoteRequest(m.type) || m.type == MessageType::kAppend) {
    // (index, log_term) name an entry of the sender's log: index 0 is the empty log's sentinel of term 0, and
    // every later entry (or snapshot point) has a term of at least 1.
    if ((m.index == 0) != (m.log_term == 0)) {
      return v.Invalid(DropReason::kMalformed,
                       absl::StrCat(Name(m), ": log position ", m.log_term, "/", m.index, " cannot exist"));
    }
  }
  if (IsVoteRequest(m.type) && m.context != 0 && m.context != kCampaignTransfer) {
    return v.Invalid(DropReason::kMalformed, absl::StrCat(Name(m), ": unknown context ", m.context));
  }
  if (m.type == MessageType::kAppendResponse && m.reject_hint > m.index) {
    return v.Invalid(DropReason::kMalformed,
                     absl::StrCat(Name(m), ": hint ", m.reject_hint, " above the rejected index ", m.index));
  }
  if (m.type == MessageType::kAppendResponse && !m.reject && (m.reject_hint != 0 || m.reject_hint_term != 0)) {
    return v.Invalid(DropReason::kMalformed, absl::StrCat(Name(m), ": a hint on an acceptance"));
  }
  return absl::OkStatus();
}

absl::Status CheckTerm(const Message& m, const ReceiverView& self, Verdict& v) {
  const Term limit = std::min(kMaxTerm, self.term + kMaxTermStep);
  if (m.term > limit) {
    return v.Invalid(DropReason::kTermOutOfBounds,
                     absl::StrCat(Name(m), ": term ", m.term, " is beyond ", limit, " (this node's term ",
                                  self.term, " + ", kMaxTermStep, ", at most ", kMaxTerm, ")"));
  }
  if ((IsLeaderTraffic(m.type) || IsVoteRequest(m.type)) && m.term == 0) {
    return v.Invalid(DropReason::kTermOutOfBounds, absl::StrCat(Name(m), ": term 0 has no leader or candidate"));
  }
  // A granted vote echoes the term the candidate asked for: ours (kVote) or ours + 1 (kPreVote).
  const Term asked = m.type == MessageType::kPreVoteResponse ? self.term + 1 : self.term;
  if (IsVoteResponse(m.type) && !m.reject && m.term > asked) {
    return v.Invalid(DropReason::kTermOutOfBounds,
                     absl::StrCat(Name(m), " grants term ", m.term, "; this node asked for at most ", asked));
  }
  return absl::OkStatus();
}

// Membership, by direction (README.md "Distrusting input"). A sender outside this node's applied configuration
// may still belong to a newer one this node has not applied yet (it lags, or is joining); the host vouches for
// such nodes (Config::is_cluster_node). Without the host's word, only a node that knows no configuration at all
// listens to strangers: it has nothing else to go by.
absl::Status CheckMembership(const Message& m, const ReceiverView& self, Verdict& v) {
  const ConfState& conf = *self.conf;
  const bool host_knows = self.is_cluster_node != nullptr && *self.is_cluster_node;
  const bool maybe_newer_member = host_knows ? (*self.is_cluster_node)(m.from) : KnowsNoConfiguration(conf);
  bool allowed = false;
  const char* needs = "";
  if (IsVoteResponse(m.type)) {
    allowed = IsVoter(conf, m.from);
    needs = "a voter (only voters' answers count)";
  } else if (IsFollowerResponse(m.type) || m.type == MessageType::kTimeoutNow) {
    allowed = IsMember(conf, m.from);
    needs = "a member";
  } else {
    // Leader traffic and vote requests: a leader or candidate of a newer configuration is legitimate.
    allowed = IsMember(conf, m.from) || maybe_newer_member;
    needs = host_knows ? "a member or a node of the cluster" : "a member";
  }
  if (!allowed) {
    return v.Refused(DropReason::kNotMember,
                     absl::StrCat(Name(m), ": the sender is not ", needs, " (", DescribeConfState(conf), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRole(const Message& m, const ReceiverView& self, Verdict& v) {
  // Below our term the term rules answer (a stale leader learns our term) or ignore it, as Raft always did; at our
  // term answers that come after the election or the leadership ended are ignored by the role's step function.
  if (m.term < self.term) return absl::OkStatus();
  if (IsLeaderTraffic(m.type) && m.term == self.term) {
    if (self.role == Role::kLeader) {
      return v.Refused(DropReason::kWrongRole,
                       absl::StrCat(Name(m), " claims to lead term ", m.term, ", which this node leads"));
    }
    if (self.leader != kNoNode && self.leader != m.from) {
      return v.Refused(DropReason::kWrongRole,
                       absl::StrCat(Name(m), " claims to lead term ", m.term, ", which n", self.leader, " leads"));
    }
  }
  if (m.type == MessageType::kTimeoutNow && (m.term != self.term || self.leader != m.from)) {
    // The transfer target was caught up by its leader in the leader's term, so it knows both.
    return v.Refused(DropReason::kWrongRole,
                     absl::StrCat(Name(m), " at term ", m.term, ": only this node's leader of term ", self.term,
                                  " (n", self.leader, ") may hand over leadership"));
  }
  // An answer from a later term would make us adopt that term: only for a question we are still asking.
  if (IsFollowerResponse(m.type) && m.term > self.term && self.role != Role::kLeader) {
    return v.Refused(DropReason::kWrongRole,
                     absl::StrCat(Name(m), " at term ", m.term, ": this node does not lead"));
  }
  if (IsVoteResponse(m.type) && m.term > self.term && self.role != Role::kPreCandidate &&
      self.role != Role::kCandidate) {
    return v.Refused(DropReason::kWrongRole,
                     absl::StrCat(Name(m), " at term ", m.term, ": this node is not campaigning"));
  }
  return absl::OkStatus();
}

absl::Status CheckEntries(const Message& m, Verdict& v) {
  const std::vector<Entry>& es = m.entries;
  if (es.size() > kMaxEntriesPerAppend) {
    return v.Invalid(DropReason::kBadEntries,
                     absl::StrCat(Name(m), ": ", es.size(), " entries; at most ", kMaxEntriesPerAppend));
  }
  if (m.index > kMaxIndex - es.size()) {
    return v.Invalid(DropReason::kBadEntries, absl::StrCat(Name(m), ": ", es.size(), " entries after index ",
                                                           m.index, " pass ", kMaxIndex));
  }
  uint64_t bytes = 0;
  Term prev_term = m.log_term;
  for (size_t k = 0; k < es.size(); ++k) {
    const Entry& e = es[k];
    // Built only on a refusal: this loop runs for every entry of every append.
    auto at = [&] { return absl::StrCat(Name(m), ": entry ", k, " (", e.term, "/", e.index, ")"); };
    if (e.index != m.index + 1 + k) {
      return v.Invalid(DropReason::kBadEntries, absl::StrCat(at(), " should have index ", m.index + 1 + k));
    }
    if (e.term < prev_term || e.term > m.term) {
      return v.Invalid(DropReason::kBadEntries,
                       absl::StrCat(at(), ": term outside [", prev_term, ", ", m.term, "]"));
    }
    if (!KnownType(e.type) || (e.type != EntryType::kNormal && e.record_count != 0)) {
      return v.Invalid(DropReason::kBadEntries, absl::StrCat(at(), ": type ", static_cast<int>(e.type), " with ",
                                                             e.record_count, " records"));
    }
    if (e.base_offset > std::numeric_limits<Offset>::max() - e.record_count ||
        (k > 0 && e.base_offset != es[k - 1].end_offset())) {
      return v.Invalid(DropReason::kBadEntries, absl::StrCat(at(), ": base offset ", e.base_offset,
                                                             " does not continue the previous entry"));
    }
    bytes += e.data.size();
    if (bytes > kMaxMessageBytes) {
      return v.Invalid(DropReason::kBadEntries,
                       absl::StrCat(Name(m), ": more than ", kMaxMessageBytes, " bytes of entries"));
    }
    prev_term = e.term;
  }
  return absl::OkStatus();
}

absl::Status CheckIndexes(const Message& m, const ReceiverView& self, Verdict& v) {
  if (m.type == MessageType::kAppend && m.commit > m.index + m.entries.size()) {
    // The leader sends min(its commit, the last index it sends): the follower cannot commit more anyway.
    return v.Invalid(
        DropReason::kUnjustifiedIndex,
        absl::StrCat(Name(m), ": commit ", m.commit, " beyond its last entry ", m.index + m.entries.size()));
  }
  if (m.type == MessageType::kHeartbeat && m.commit > self.last_index) {
    // The leader sends min(its commit, our match): never beyond what we hold durably.
    return v.Invalid(
        DropReason::kUnjustifiedIndex,
        absl::StrCat(Name(m), ": commit ", m.commit, " beyond this node's last index ", self.last_index));
  }
  if (m.type == MessageType::kAppendResponse && self.role == Role::kLeader && m.term == self.term &&
      m.index > self.last_index) {
    // At our term our log only grows: nobody can hold or have been sent an index we do not have.
    return v.Invalid(
        DropReason::kUnjustifiedIndex,
        absl::StrCat(Name(m), ": index ", m.index, " beyond the leader's last index ", self.last_index));
  }
  return absl::OkStatus();
}

absl::Status CheckConf(const Message& m, const ConfState& c, Verdict& v) {
  const size_t n = c.voters.size() + c.learners.size() + c.voters_outgoing.size();
  if (c.voters.empty() || n > kMaxConfMembers) {
    return v.Invalid(DropReason::kBadSnapshot,
                     absl::StrCat(Name(m), ": snapshot configuration with ", c.voters.size(), " voters and ", n,
                                  " ids (1 to ", kMaxConfMembers, " voters)"));
  }
  // Ids are non-zero and unique within each list; a learner is not also a voter.
  auto unique = [](std::vector<NodeId> ids) {
    std::sort(ids.begin(), ids.end());
    return std::adjacent_find(ids.begin(), ids.end()) == ids.end() && (ids.empty() || ids.front() != kNoNode);
  };
  std::vector<NodeId> incoming_and_learners = c.voters;
  incoming_and_learners.insert(incoming_and_learners.end(), c.learners.begin(), c.learners.end());
  std::vector<NodeId> outgoing_and_learners = c.voters_outgoing;
  outgoing_and_learners.insert(outgoing_and_learners.end(), c.learners.begin(), c.learners.end());
  if (!unique(std::move(incoming_and_learners)) || !unique(std::move(outgoing_and_learners))) {
    return v.Invalid(DropReason::kBadSnapshot,
                     absl::StrCat(Name(m), ": snapshot configuration ", DescribeConfState(c),
                                  " repeats an id or names node 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckSnapshot(const Message& m, const ReceiverView& self, Verdict& v) {
  const SnapshotMeta& s = m.snapshot;
  if (s.index > kMaxIndex || s.term > m.term || (s.index == 0) != (s.term == 0)) {
    return v.Invalid(DropReason::kBadSnapshot, absl::StrCat(Name(m), " at term ", m.term, ": snapshot point ",
                                                            s.term, "/", s.index, " cannot exist"));
  }
  if (m.snapshot_data.size() > kMaxMessageBytes) {
    return v.Invalid(DropReason::kBadSnapshot,
                     absl::StrCat(Name(m), ": ", m.snapshot_data.size(), " bytes of snapshot data"));
  }
  if (absl::Status st = CheckConf(m, s.conf, v); !st.ok()) return st;
  if (s.index < self.commit) {
    return v.Refused(DropReason::kStaleSnapshot, absl::StrCat(Name(m), ": snapshot at ", s.index,
                                                              " is below this node's commit ", self.commit));
  }
  // A member's snapshot lies past its commit index, hence past the change that made it a member. The leader only
  // sends to nodes of its applied configuration and only its log start (taken at an applied index), so the
  // configuration there still has this node. (The sender itself need not be in it: a leader that joined after
  // its own log start sends a configuration from before it joined.)
  if (IsMember(*self.conf, self.id) && !IsMember(s.conf, self.id)) {
    return v.Invalid(DropReason::kBadSnapshot,
                     absl::StrCat(Name(m), ": snapshot configuration ", DescribeConfState(s.conf),
                                  " lacks this member n", self.id));
  }
  return absl::OkStatus();
}

}  // namespace

const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kMisaddressed:
      return "misaddressed";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kTermOutOfBounds:
      return "term_out_of_bounds";
    case DropReason::kNotMember:
      return "not_member";
    case DropReason::kWrongRole:
      return "wrong_role";
    case DropReason::kBadEntries:
      return "bad_entries";
    case DropReason::kUnjustifiedIndex:
      return "unjustified_index";
    case DropReason::kBadSnapshot:
      return "bad_snapshot";
    case DropReason::kStaleSnapshot:
      return "stale_snapshot";
  }
  return "unknown";
}

uint64_t DroppedMessages::total() const {
  uint64_t n = 0;
  for (uint64_t c : by_reason) n += c;
  return n;
}

absl::Status ValidateMessage(const Message& m, const ReceiverView& self, DropReason* reason) {
  Verdict v(reason);
  if (absl::Status s = CheckAddress(m, self, v); !s.ok()) return s;
  if (absl::Status s = CheckMembership(m, self, v); !s.ok()) return s;
  if (absl::Status s = CheckFields(m, v); !s.ok()) return s;
  if (absl::Status s = CheckTerm(m, self, v); !s.ok()) return s;
  if (absl::Status s = CheckEntries(m, v); !s.ok()) return s;
  if (absl::Status s = CheckIndexes(m, self, v); !s.ok()) return s;
  if (m.type == MessageType::kSnapshot) {
    if (absl::Status s = CheckSnapshot(m, self, v); !s.ok()) return s;
  }
  return CheckRole(m, self, v);
}

}  // namespace brook::raft
