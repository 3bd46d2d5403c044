#include "raft/sim/forger.h"

#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "raft/validate_message.h"

namespace brook::raft::sim {
namespace {

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

Term TermAt(const RaftNode& r, Index i) {
  auto t = r.term_at(i);
  return t.ok() ? *t : 0;
}

std::vector<NodeId> Members(const RaftNode& r) {
  std::vector<NodeId> ids = r.conf().voters;
  ids.insert(ids.end(), r.conf().learners.begin(), r.conf().learners.end());
  return ids;
}

bool IsMember(const RaftNode& r, NodeId id) {
  const std::vector<NodeId> ids = Members(r);
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// `n` well-formed entries after `index`, of term `term`, with contiguous offsets (and data, unless `empty`).
std::vector<Entry> Entries(Index index, Term term, size_t n, Rng& rng, bool empty = false) {
  std::vector<Entry> out;
  out.reserve(n);
  Offset offset = rng.Uniform(1000);
  for (size_t k = 0; k < n; ++k) {
    Entry e;
    e.index = index + 1 + k;
    e.term = term;
    e.record_count = 1;
    e.base_offset = offset++;
    if (!empty) e.data = absl::StrCat("forged", rng.Uniform(1000));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

const char* ForgeryKindName(ForgeryKind k) {
  switch (k) {
    case ForgeryKind::kStranger:
      return "stranger";
    case ForgeryKind::kMisaddressed:
      return "misaddressed";
    case ForgeryKind::kHugeTerm:
      return "huge_term";
    case ForgeryKind::kBadEntries:
      return "bad_entries";
    case ForgeryKind::kUnjustified:
      return "unjustified";
    case ForgeryKind::kWrongRole:
      return "wrong_role";
    case ForgeryKind::kBadSnapshot:
      return "bad_snapshot";
    case ForgeryKind::kUnknownType:
      return "unknown_type";
    case ForgeryKind::kStrayField:
      return "stray_field";
  }
  return "?";
}

void Forger::Remember(const Message& m) {
  seen_.push_back(m);
  if (seen_.size() > kReplayWindow) seen_.pop_front();
}

std::optional<Message> Forger::Replay(Rng& rng) const {
  if (seen_.empty()) return std::nullopt;
  return seen_[rng.Uniform(seen_.size())];
}

NodeId Forger::Stranger(Rng& rng) const {
  for (;;) {
    const NodeId candidates[] = {99, 100 + rng.Uniform(1000), NodeId{1} << 40, kMax64};
    const NodeId id = candidates[rng.Uniform(4)];
    if (std::find(cluster_.begin(), cluster_.end(), id) == cluster_.end()) return id;
  }
}

NodeId Forger::OtherMember(const RaftNode& r, NodeId not_a, NodeId not_b, Rng& rng) const {
  std::vector<NodeId> ids;
  for (NodeId id : Members(r)) {
    if (id != not_a && id != not_b && id != r.id()) ids.push_back(id);
  }
  return ids.empty() ? kNoNode : ids[rng.Uniform(ids.size())];
}

Message Forger::Forge(ForgeryKind kind, const Message& g, const RaftNode& r, Rng& rng) const {
  switch (kind) {
    case ForgeryKind::kStranger:
      return FromStranger(r, rng);
    case ForgeryKind::kMisaddressed: {
      Message m = g;
      if (rng.Chance(0.5)) {
        m.to = r.id() + 1 + rng.Uniform(5);
      } else {
        m.from = r.id();
      }
      return m;
    }
    case ForgeryKind::kHugeTerm: {
      Message m = g;
      const Term terms[] = {kMax64, kMaxTerm + 1 + rng.Uniform(1000),
                            r.term() + kMaxTermStep + 1 + rng.Uniform(1000)};
      m.term = terms[rng.Uniform(3)];
      return m;
    }
    case ForgeryKind::kBadEntries:
      return BadEntries(g, r, rng);
    case ForgeryKind::kUnjustified:
      return Unjustified(g, r, rng);
    case ForgeryKind::kWrongRole:
      return WrongRole(g, r, rng);
    case ForgeryKind::kBadSnapshot:
      return BadSnapshot(g, r, rng);
    case ForgeryKind::kUnknownType: {
      Message m = g;
      m.type = static_cast<MessageType>(10 + rng.Uniform(246));
      return m;
    }
    case ForgeryKind::kStrayField:
      return StrayField(g, rng);
  }
  return g;
}

// What would hurt most if believed: a stranger leading a higher term, committing its own entries, installing
// its own snapshot, or winning our vote.
Message Forger::FromStranger(const RaftNode& r, Rng& rng) const {
  Message m;
  m.from = Stranger(rng);
  m.to = r.id();
  const Index last = r.last_index();
  const Term last_term = TermAt(r, last);
  m.term = std::max({r.term(), last_term, Term{1}}) + rng.Uniform(3);
  switch (rng.Uniform(7)) {
    case 0:
      m.type = MessageType::kHeartbeat;
      m.commit = rng.Uniform(last + 1);
      break;
    case 1: {
      m.type = MessageType::kAppend;
      m.index = last;
      m.log_term = last_term;
      m.entries = Entries(last, m.term, 1 + rng.Uniform(3), rng);
      m.commit = last + m.entries.size();
      break;
    }
    case 2:
      m.type = MessageType::kSnapshot;
      m.snapshot.index = r.commit_index() + 1 + rng.Uniform(100);
      m.snapshot.term = m.term;
      m.snapshot.next_offset = rng.Uniform(1000);
      m.snapshot.conf = r.conf();
      if (m.snapshot.conf.voters.empty()) m.snapshot.conf.voters = {m.from};
      m.snapshot_data = "forged state";
      break;
    case 3:
      m.type = rng.Chance(0.5) ? MessageType::kVote : MessageType::kPreVote;
      m.term += 1;
      m.index = last + 100;
      m.log_term = m.term - 1;
      break;
    case 4:
      m.type = MessageType::kTimeoutNow;
      m.term = std::max(r.term(), Term{1});
      break;
    case 5:
      m.type = MessageType::kAppendResponse;
      m.term = r.term();
      m.index = last;
      break;
    default:
      m.type = rng.Chance(0.5) ? MessageType::kVoteResponse : MessageType::kHeartbeatResponse;
      m.term = r.term();
      break;
  }
  return m;
}

Message Forger::BadEntries(const Message& g, const RaftNode& r, Rng& rng) const {
  Message m;
  m.type = MessageType::kAppend;
  m.from = g.from;
  m.to = r.id();
  m.index = r.last_index();
  m.log_term = TermAt(r, m.index);
  m.term = std::max({g.term, m.log_term, Term{1}});
  if (g.type == MessageType::kAppend && !g.entries.empty()) m = g;  // Mangle a genuine list when there is one.
  const size_t n = std::max<size_t>(m.entries.size(), 2);
  if (m.entries.size() < 2) m.entries = Entries(m.index, m.term, n, rng);
  m.commit = std::min(m.commit, m.index + m.entries.size());
  switch (rng.Uniform(11)) {
    case 0:  // The attack seen: an entry 2^40 past the end.
      m.entries.back().index += Index{1} << 40;
      break;
    case 1:  // Truncated: the first entry is missing.
      m.entries.erase(m.entries.begin());
      break;
    case 2:  // Out of order.
      std::swap(m.entries[0], m.entries[1]);
      break;
    case 3:  // A term above the message's.
      m.entries.back().term = m.term + 1 + rng.Uniform(5);
      break;
    case 4:  // Terms going down.
      if (m.entries[0].term > 1) {
        m.entries[1].term = m.entries[0].term - 1;
      } else {
        m.entries.back().index += 1;
      }
      break;
    case 5:  // prev index + count past the index space.
      m.index = kMaxIndex - rng.Uniform(2);
      m.log_term = m.term;
      for (size_t k = 0; k < m.entries.size(); ++k) m.entries[k].index = m.index + 1 + k;
      m.commit = 0;
      break;
    case 6:  // An unknown entry type.
      m.entries[0].type = static_cast<EntryType>(3 + rng.Uniform(250));
      break;
    case 7:  // Records on a no-op.
      m.entries[0].type = EntryType::kNoop;
      m.entries[0].record_count = 1 + static_cast<uint32_t>(rng.Uniform(5));
      break;
    case 8:  // Offsets that do not continue.
      m.entries[1].base_offset = m.entries[0].end_offset() + 1 + rng.Uniform(1000);
      break;
    case 9:  // Overlong: one entry more than any honest append carries (rare: it is large to build).
      if (rng.Chance(0.05)) {
        m.entries = Entries(m.index, m.term, kMaxEntriesPerAppend + 1, rng, /*empty=*/true);
        m.commit = 0;
      } else {
        m.entries[1].index = m.entries[0].index;
      }
      break;
    default:  // A repeated index.
      m.entries[1].index = m.entries[0].index;
      break;
  }
  return m;
}

Message Forger::Unjustified(const Message& g, const RaftNode& r, Rng& rng) const {
  Message m;
  m.from = g.from;
  m.to = r.id();
  m.term = std::max(g.term, Term{1});
  const int choice = static_cast<int>(rng.Uniform(r.role() == Role::kLeader ? 3 : 2));
  if (choice == 0) {
    m.type = MessageType::kHeartbeat;
    m.commit = r.last_index() + 1 + rng.Uniform(1 << 20);
  } else if (choice == 1) {
    m.type = MessageType::kAppend;
    m.index = r.last_index();
    m.log_term = TermAt(r, m.index);
    m.term = std::max(m.term, m.log_term);
    m.entries = Entries(m.index, m.term, rng.Uniform(3), rng);
    m.commit = m.index + m.entries.size() + 1 + rng.Uniform(1 << 20);
  } else {
    // An acknowledgement of entries the leader never had.
    m.type = MessageType::kAppendResponse;
    m.from = OtherMember(r, kNoNode, kNoNode, rng);
    if (m.from == kNoNode) m.from = g.from;
    m.term = r.term();
    m.index = r.last_index() + 1 + rng.Uniform(1 << 20);
  }
  return m;
}

Message Forger::WrongRole(const Message& g, const RaftNode& r, Rng& rng) const {
  Message m;
  m.to = r.id();
  m.term = r.term();
  if (r.role() == Role::kLeader || (r.leader() != kNoNode && r.leader() != r.id())) {
    // A second leader in a term that already has one (this node, or the one it follows).
    const NodeId x = OtherMember(r, r.leader(), kNoNode, rng);
    if (x != kNoNode && rng.Chance(0.7)) {
      m.from = x;
      m.type = rng.Chance(0.5) ? MessageType::kHeartbeat : MessageType::kTimeoutNow;
      return m;
    }
  }
  const NodeId x = OtherMember(r, kNoNode, kNoNode, rng);
  m.from = x != kNoNode ? x : g.from;
  m.term = r.term() + 1;
  if (r.role() != Role::kLeader && rng.Chance(0.5)) {
    // An answer from a later term to a question this node never asked: it would make it adopt that term.
    m.type = rng.Chance(0.5) ? MessageType::kAppendResponse : MessageType::kHeartbeatResponse;
  } else if (r.role() != Role::kCandidate && r.role() != Role::kPreCandidate) {
    m.type = MessageType::kVoteResponse;
    m.reject = true;
  } else {
    // A candidate: kTimeoutNow from a later term (only our own leader, in our term, may send it).
    m.type = MessageType::kTimeoutNow;
  }
  return m;
}

Message Forger::BadSnapshot(const Message& g, const RaftNode& r, Rng& rng) const {
  Message m;
  m.type = MessageType::kSnapshot;
  m.from = r.leader() != kNoNode && r.leader() != r.id() ? r.leader() : g.from;
  m.to = r.id();
  m.term = std::max(r.term(), Term{1});
  m.snapshot.index = r.commit_index() + 1 + rng.Uniform(50);
  m.snapshot.term = m.term;
  m.snapshot.next_offset = rng.Uniform(1000);
  m.snapshot.conf = r.conf();
  if (m.snapshot.conf.voters.empty()) m.snapshot.conf.voters = {m.from};
  m.snapshot_data = "forged state";
  for (;;) {
    switch (rng.Uniform(8)) {
      case 0:
        m.snapshot.conf.voters.clear();
        return m;
      case 1:
        m.snapshot.conf.voters.push_back(kNoNode);
        return m;
      case 2:
        m.snapshot.conf.voters.push_back(m.snapshot.conf.voters.front());
        return m;
      case 3:
        m.snapshot.term = m.term + 1 + rng.Uniform(5);
        return m;
      case 4:
        m.snapshot.index = 0;
        return m;
      case 5:  // A configuration without the receiver, which is a member.
        if (!IsMember(r, r.id())) break;
        m.snapshot.conf = ConfState{};
        for (NodeId id : r.conf().voters) {
          if (id != r.id()) m.snapshot.conf.voters.push_back(id);
        }
        if (m.snapshot.conf.voters.empty()) m.snapshot.conf.voters = {m.from};
        return m;
      case 6:  // Below the receiver's commit index.
        if (r.commit_index() == 0) break;
        m.snapshot.index = rng.Uniform(r.commit_index());
        m.snapshot.term = m.snapshot.index == 0 ? 0 : 1;
        return m;
      default:  // A learner that is also a voter.
        m.snapshot.conf.learners.push_back(m.snapshot.conf.voters.front());
        return m;
    }
  }
}

Message Forger::StrayField(const Message& g, Rng& rng) const {
  Message m = g;
  const uint64_t junk = 1 + rng.Uniform(1 << 20);
  switch (g.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      m.commit = junk;
      break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse:
      m.index = junk;
      break;
    case MessageType::kAppend:
      m.reject_hint = junk;
      break;
    case MessageType::kAppendResponse:
      m.entries.push_back(Entry{});
      break;
    case MessageType::kHeartbeat:
      m.log_term = junk;
      break;
    case MessageType::kHeartbeatResponse:
      m.commit = junk;
      break;
    case MessageType::kSnapshot:
      m.context = junk;
      break;
    case MessageType::kTimeoutNow:
      m.snapshot_data = "junk";
      break;
  }
  return m;
}

}  // namespace brook::raft::sim
