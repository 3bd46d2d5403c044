// The Raft state machine. Read next to the Raft paper (Ongaro & Ousterhout 2014) and the thesis (Ongaro 2014):
// Step applies the term rules (paper figure 2, "all servers"), then hands the message to one function per role.
#include "raft/raft.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "raft/quorum.h"

namespace brook::raft {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool Contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

uint64_t DataBytes(const std::vector<Entry>& entries) {
  uint64_t n = 0;
  for (const Entry& e : entries) n += e.data.size();
  return n;
}

// Messages that may leave before the Ready that produced them is durable (ready.h): they promise nothing about
// the sender's disk. Everything else waits for the sync.
bool MaySendBeforePersist(MessageType t) {
  switch (t) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
    case MessageType::kTimeoutNow:
    case MessageType::kPreVote:
    case MessageType::kPreVoteResponse:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<RaftNode>> RaftNode::Create(Config config, const LogReader* log,
                                                           const HardState& hard_state, const ConfState& conf,
                                                           Index applied) {
  if (config.id == kNoNode) return absl::InvalidArgumentError("raft config: id must not be 0");
  if (config.heartbeat_ticks < 1 || config.election_ticks <= config.heartbeat_ticks) {
    return absl::InvalidArgumentError(absl::StrCat("raft config: need 1 <= heartbeat_ticks (",
                                                   config.heartbeat_ticks, ") < election_ticks (",
                                                   config.election_ticks, ")"));
  }
  if (config.max_inflight_msgs < 1)
    return absl::InvalidArgumentError("raft config: max_inflight_msgs must be >= 1");
  if (log == nullptr) return absl::InvalidArgumentError("raft config: log is null");
  if (hard_state.term > kMaxTerm) {
    // Written by a node that trusted a forged term. Lowering it could grant a second vote in a term; only an
    // operator who stops every replica of the group can repair it.
    return absl::FailedPreconditionError(absl::StrCat("hard state term ", hard_state.term,
                                                      " is beyond the ceiling ", kMaxTerm,
                                                      "; the group's terms need repair"));
  }
  if (hard_state.commit > log->LastIndex()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "hard state commit ", hard_state.commit, " is beyond the durable log's last index ", log->LastIndex()));
  }
  return std::unique_ptr<RaftNode>(new RaftNode(std::move(config), log, hard_state, conf, applied));
}

RaftNode::RaftNode(Config config, const LogReader* log, const HardState& hs, const ConfState& conf, Index applied)
    : config_(std::move(config)),
      id_(config_.id),
      term_(hs.term),
      vote_(hs.vote),
      log_(log, hs.commit, applied, config_.max_recent_bytes),
      conf_(conf),
      rng_state_(config_.seed ^ (config_.id * 0xd1b54a32d192ed03ULL)) {
  prev_hard_state_ = HardState{term_, vote_, log_.committed()};
  BecomeFollower(term_, kNoNode);
}

// ---------------------------------------------------------------------------------------------------------------
// Role transitions.

void RaftNode::BecomeFollower(Term term, NodeId leader) {
  Reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
  Log(leader == kNoNode ? std::string("became follower") : absl::StrCat("became follower of n", leader));
}

void RaftNode::Reset(Term term) {
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  quiesced_ = false;
  ResetRandomizedElectionTimeout();
  votes_.clear();
  progress_.clear();
  lead_transferee_ = kNoNode;
  uncommitted_.clear();
  uncommitted_bytes_ = 0;
  pending_broadcast_ = false;
}

void RaftNode::BecomePreCandidate() {
  // Pre-vote changes neither term nor vote (thesis 9.6).
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_.clear();
  Log("became pre-candidate");
}

void RaftNode::BecomeCandidate() {
  Reset(term_ + 1);
  role_ = Role::kCandidate;
  vote_ = id_;
  Log("became candidate");
}

void RaftNode::BecomeLeader() {
  role_ = Role::kLeader;
  leader_ = id_;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  votes_.clear();
  ResetProgress();
  // A conf change proposed before our no-op is applied could overlap an uncommitted one of an earlier leader
  // (the one-server-at-a-time bug): wait until everything up to our first entry is applied.
  pending_conf_index_ = log_.LastIndex() + 1;
  if (log_.LastIndex() + 1 == log_.FirstIndex()) {
    next_offset_ =
        log_.unstable().snapshot ? log_.unstable().snapshot->next_offset : log_.durable()->Snapshot().next_offset;
  } else {
    auto last = log_.Slice(log_.LastIndex(), log_.LastIndex() + 1, UINT64_MAX);
    next_offset_ = last.ok() && !last->empty() ? last->back().end_offset() : 0;
  }
  Log(absl::StrCat("became leader at index=", log_.LastIndex() + 1));
  Entry noop;
  noop.type = EntryType::kNoop;
  AppendLeaderEntry(std::move(noop));
  pending_broadcast_ = true;
}

void RaftNode::ResetProgress() {
  std::map<NodeId, Progress> next;
  auto add = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it != progress_.end()) {
      it->second.learner = learner;
      next.emplace(id, std::move(it->second));
      return;
    }
    Progress pr(log_.LastIndex() + 1, config_.max_inflight_msgs, config_.max_inflight_bytes, learner);
    if (id == id_) {
      pr.match = log_.StableLastIndex();
      pr.next = std::max(pr.next, pr.match + 1);
      pr.state = ProgressState::kReplicate;
      pr.recent_active = true;
    }
    next.emplace(id, std::move(pr));
  };
  for (NodeId id : conf_.voters) add(id, false);
  for (NodeId id : conf_.voters_outgoing) add(id, false);
  for (NodeId id : conf_.learners) add(id, true);
  progress_ = std::move(next);
}

// ---------------------------------------------------------------------------------------------------------------
// Time.

void RaftNode::Tick() {
  if (quiesced_) return;
  if (role_ == Role::kLeader) {
    TickLeader();
  } else {
    TickElection();
  }
}

void RaftNode::TickElection() {
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    Campaign();
  }
}

void RaftNode::TickLeader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  for (auto& [id, pr] : progress_) {
    if (id != id_) ++pr.ticks_since_heard;
  }
  if (config_.learner_bytes_per_tick > 0) {
    const auto per_tick = static_cast<int64_t>(config_.learner_bytes_per_tick);
    const int64_t burst = std::max<int64_t>(per_tick, static_cast<int64_t>(config_.max_msg_bytes));
    for (auto& [id, pr] : progress_) {
      if (!pr.learner || id == id_) continue;
      pr.learner_tokens = std::min(pr.learner_tokens + per_tick, burst);
      if (pr.learner_tokens > 0 && pr.next <= log_.LastIndex()) MaybeSendAppend(id, false);
    }
  }
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      absl::flat_hash_map<NodeId, bool> active;
      for (auto& [id, pr] : progress_) active[id] = pr.recent_active || id == id_;
      if (JointVoteResult(conf_.voters, conf_.voters_outgoing, active) != VoteResult::kWon) {
        Log("stepped down: no quorum heard within an election timeout");
        BecomeFollower(term_, kNoNode);
        return;
      }
    }
    for (auto& [id, pr] : progress_) {
      if (id != id_) pr.recent_active = false;
      // A kSnapshot may have been lost: retry from probing (which re-sends it if still needed).
      if (pr.state == ProgressState::kSnapshot) pr.BecomeProbe();
    }
    if (lead_transferee_ != kNoNode) AbortTransfer();
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat();
  }
}

void RaftNode::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      config_.election_ticks +
      static_cast<int>(SplitMix64(rng_state_) % static_cast<uint64_t>(config_.election_ticks));
}

// ---------------------------------------------------------------------------------------------------------------
// Elections.

void RaftNode::Campaign() {
  if (quiesced_) Unquiesce();
  if (role_ == Role::kLeader || !Promotable()) return;
  if (term_ >= kMaxTerm) {
    Log("not campaigning: the term ceiling is reached");
    return;
  }
  if (HasUnappliedConfChange()) {
    Log("not campaigning: committed configuration changes are not applied yet");
    return;
  }
  StartElection(config_.pre_vote, /*transfer=*/false);
}

void RaftNode::StartElection(bool pre_vote, bool transfer) {
  if (pre_vote) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  votes_[id_] = true;
  if (JointVoteResult(conf_.voters, conf_.voters_outgoing, votes_) == VoteResult::kWon) {
    // A single-voter group wins at once.
    if (pre_vote) {
      StartElection(false, transfer);
    } else {
      BecomeLeader();
    }
    return;
  }
  const Term election_term = pre_vote ? term_ + 1 : term_;
  Log(absl::StrCat("started ", pre_vote ? "pre-vote" : "election", " for term=", election_term,
                   " at log=", log_.LastTerm(), "/", log_.LastIndex()));
  auto ask = [&](NodeId to) {
    if (to == id_) return;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = to;
    m.term = election_term;
    m.log_term = log_.LastTerm();
    m.index = log_.LastIndex();
    m.context = transfer ? kCampaignTransfer : 0;
    Send(std::move(m));
  };
  for (NodeId id : conf_.voters) ask(id);
  for (NodeId id : conf_.voters_outgoing) {
    if (!Contains(conf_.voters, id)) ask(id);
  }
}

void RaftNode::HandleVoteRequest(const Message& m) {
  // We can grant if we already voted for this candidate (a retransmission), or have not voted and know no leader
  // in this term, or (pre-vote) the candidate's future term is above ours.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) ||
                        (m.type == MessageType::kPreVote && m.term > term_);
  Message resp;
  resp.type = m.type == MessageType::kPreVote ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  resp.to = m.from;
  if (can_vote && log_.IsUpToDate(m.index, m.log_term)) {
    resp.term = m.term;
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
    Log(absl::StrCat("granted ", MessageTypeName(m.type), " to n", m.from, " for term=", m.term));
  } else {
    resp.term = term_;
    resp.reject = true;
  }
  Send(std::move(resp));
}

// ---------------------------------------------------------------------------------------------------------------
// Step.

ReceiverView RaftNode::View() const {
  return ReceiverView{.id = id_,
                      .term = term_,
                      .role = role_,
                      .leader = leader_,
                      .conf = &conf_,
                      .commit = log_.committed(),
                      .last_index = log_.LastIndex(),
                      .is_cluster_node = &config_.is_cluster_node};
}

absl::Status RaftNode::Step(const Message& m) {
  if (config_.unsafe_skip_message_validation) {
    if (m.to != id_)
      return absl::InvalidArgumentError(absl::StrCat("message for n", m.to, " stepped into n", id_));
  } else {
    DropReason reason = DropReason::kMalformed;
    if (absl::Status s = ValidateMessage(m, View(), &reason); !s.ok()) {
      dropped_.Add(reason);
      Log(absl::StrCat("dropped (", DropReasonName(reason), ") ", s.message()));
      return s;
    }
  }
  if (quiesced_ && !QuietMessage(m)) Unquiesce();
  // Term rules (paper figure 2), with pre-vote and leases.
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      const bool forced = m.context == kCampaignTransfer;
      const bool in_lease =
          config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks;
      if (!forced && in_lease) {
        // We heard from a leader within the minimum election timeout: the candidate (a removed or partitioned
        // node) must not disrupt it. Neither grant nor bump our term.
        return absl::OkStatus();
      }
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote carries a term the sender does not have yet: it changes nothing here.
    } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
      // A granted pre-vote echoes the future term we asked for; we bump our term only if we win.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      BecomeFollower(m.term, m.from);
    } else {
      BecomeFollower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
      // A stale leader (e.g. back from a partition): tell it our term so it steps down. Without this, with
      // pre-vote it could never learn the term it must give up.
      Message resp;
      resp.type = MessageType::kAppendResponse;
      resp.to = m.from;
      Send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResponse;
      resp.to = m.from;
      resp.term = term_;
      resp.reject = true;
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      HandleVoteRequest(m);
      return absl::OkStatus();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      StepLeader(m);
      return absl::OkStatus();
    case Role::kPreCandidate:
    case Role::kCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

absl::Status RaftNode::StepCandidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      BecomeFollower(m.term, m.from);
      return HandleAppend(m);
    case MessageType::kHeartbeat:
      BecomeFollower(m.term, m.from);
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnapshot:
      BecomeFollower(m.term, m.from);
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: {
      const bool mine = (role_ == Role::kPreCandidate) == (m.type == MessageType::kPreVoteResponse);
      if (!mine) return absl::OkStatus();
      votes_.try_emplace(m.from, !m.reject);
      switch (JointVoteResult(conf_.voters, conf_.voters_outgoing, votes_)) {
        case VoteResult::kWon:
          if (role_ == Role::kPreCandidate) {
            StartElection(false, false);
          } else {
            BecomeLeader();
          }
          return absl::OkStatus();
        case VoteResult::kLost:
          Log(absl::StrCat("lost ", role_ == Role::kPreCandidate ? "pre-vote" : "election"));
          BecomeFollower(term_, kNoNode);
          return absl::OkStatus();
        case VoteResult::kPending:
          return absl::OkStatus();
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status RaftNode::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      return HandleAppend(m);
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleHeartbeat(m);
      return absl::OkStatus();
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      HandleSnapshot(m);
      return absl::OkStatus();
    case MessageType::kTimeoutNow:
      if (Promotable() && term_ < kMaxTerm) {
        Log(absl::StrCat("campaigning at once: leadership transfer from n", m.from));
        StartElection(/*pre_vote=*/false, /*transfer=*/true);
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status RaftNode::HandleAppend(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  if (NeedsSnapshotToJoin()) {
    // We know neither the membership nor any entry: ask for the leader's log start (see kJoinRequest).
    resp.reject = true;
    resp.index = 0;
    resp.reject_hint = 0;
    resp.reject_hint_term = 0;
    Send(std::move(resp));
    return absl::OkStatus();
  }
  if (m.index < log_.committed()) {
    // Everything up to our commit index matches any leader's log: say how far we are.
    resp.index = log_.committed();
  } else if (log_.MatchTerm(m.index, m.log_term)) {
    absl::StatusOr<Index> last_new = log_.MaybeAppend(m.index, m.entries);
    if (!last_new.ok()) {
      dropped_.Add(DropReason::kBadEntries);
      Log(absl::StrCat("dropped (", DropReasonName(DropReason::kBadEntries), ") append from n", m.from, ": ",
                       last_new.status().message()));
      return last_new.status();
    }
    log_.CommitTo(std::min(m.commit, *last_new));
    resp.index = *last_new;
  } else {
    // Fast backtracking: point the leader at the last index of ours whose term it may share.
    Index hint = log_.FindConflictByTerm(std::min(m.index, log_.LastIndex()), m.log_term);
    auto hint_term = log_.TermAt(hint);
    resp.index = m.index;
    resp.reject = true;
    resp.reject_hint = hint;
    resp.reject_hint_term = hint_term.ok() ? *hint_term : 0;
    Log(absl::StrCat("rejected append after ", m.log_term, "/", m.index, " hint=", resp.reject_hint_term, "/",
                     hint));
  }
  Send(std::move(resp));
  return absl::OkStatus();
}

void RaftNode::HandleHeartbeat(const Message& m) {
  log_.CommitTo(m.commit);
  // The leader goes quiet: so do we, if we hold everything it committed (else we keep ticking and, not hearing
  // it, campaign; the pre-vote wakes it and it brings us up to date).
  if (m.context == kQuiesceHeartbeat && role_ == Role::kFollower && m.from == leader_ &&
      log_.committed() == log_.LastIndex() && m.commit == log_.LastIndex()) {
    quiesced_ = true;
  }
  Message resp;
  resp.type = MessageType::kHeartbeatResponse;
  resp.to = m.from;
  resp.context = m.context;
  Send(std::move(resp));
}

void RaftNode::HandleSnapshot(const Message& m) {
  const SnapshotMeta& s = m.snapshot;
  Message resp;
  resp.type = MessageType::kAppendResponse;
  resp.to = m.from;
  if (NeedsSnapshotToJoin()) {
    // Fall through to install, even at index 0: it carries the membership.
  } else if (s.index <= log_.committed()) {
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  } else if (log_.MatchTerm(s.index, s.term)) {
    // We hold the snapshot's last entry: nothing to install, just learn that it is committed.
    log_.CommitTo(s.index);
    resp.index = log_.committed();
    Send(std::move(resp));
    return;
  }
  {
    Log(absl::StrCat("installing snapshot at ", s.term, "/", s.index));
    log_.Restore(s, m.snapshot_data);
    conf_ = s.conf;
    pending_conf_state_ = conf_;
    resp.index = s.index;
  }
  Send(std::move(resp));
}

// ---------------------------------------------------------------------------------------------------------------
// Leader.

void RaftNode::StepLeader(const Message& m) {
  if (m.type != MessageType::kAppendResponse && m.type != MessageType::kHeartbeatResponse) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;  // Not a member (any more).
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.ticks_since_heard = 0;
  if (m.type == MessageType::kAppendResponse) {
    HandleAppendResponse(m, pr);
    return;
  }
  // kHeartbeatResponse: the follower is alive. If our appends to it seem stuck (a full window, or a probe
  // without answer), make room and retry; lost appends are detected by the follower's rejection.
  if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
  if (pr.state == ProgressState::kProbe) pr.probe_sent = false;
  if (quiesced_ && pr.match < log_.LastIndex()) Unquiesce();  // not caught up after all: replicate again
  if (pr.match < log_.LastIndex()) MaybeSendAppend(m.from, true);
  if (m.from == lead_transferee_ && pr.match == log_.LastIndex()) {
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = m.from;
    Send(std::move(tn));
  }
}

void RaftNode::HandleAppendResponse(const Message& m, Progress& pr) {
  if (m.reject && m.index == 0) {
    // A new member that was never bootstrapped: only a snapshot tells it the membership.
    if (pr.state != ProgressState::kSnapshot) SendSnapshot(m.from, pr);
    return;
  }
  if (m.reject) {
    Index hint = m.reject_hint;
    if (m.reject_hint_term > 0) hint = log_.FindConflictByTerm(m.reject_hint, m.reject_hint_term);
    if (pr.MaybeDecrTo(m.index, hint)) {
      Log(absl::StrCat("n", m.from, " rejected append after index=", m.index, "; probing from ", pr.next));
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      MaybeSendAppend(m.from, true);
    }
    return;
  }
  const bool was_paused = pr.IsPaused();
  bool updated = pr.MaybeUpdate(m.index);
  if (pr.state == ProgressState::kSnapshot && m.index >= pr.pending_snapshot) {
    // The snapshot is installed (possibly at index 0 for a joining node, which moves no match).
    updated = true;
  }
  if (!updated) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log_.FirstIndex()) {
        pr.BecomeProbe();
        pr.BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index);
      break;
  }
  if (MaybeCommit()) {
    BroadcastAppend();
  } else if (was_paused) {
    // The follower may not know the commit index yet (we could not send while it was paused).
    MaybeSendAppend(m.from, true);
  }
  while (MaybeSendAppend(m.from, false)) {
  }
  if (m.from == lead_transferee_ && pr.match == log_.LastIndex()) {
    Log(absl::StrCat("n", m.from, " caught up; sending timeout-now"));
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = m.from;
    Send(std::move(tn));
  }
}

bool RaftNode::MaybeSendAppend(NodeId to, bool send_if_empty) {
  Progress& pr = progress_.at(to);
  if (pr.IsPaused()) return false;
  const bool throttled = pr.learner && config_.learner_bytes_per_tick > 0;
  if (throttled && pr.learner_tokens <= 0 && !send_if_empty) return false;
  const Index prev = pr.next - 1;
  auto prev_term = log_.TermAt(prev);
  absl::StatusOr<std::vector<Entry>> entries = std::vector<Entry>();
  if (prev_term.ok() && pr.next <= log_.LastIndex()) {
    // Bounded in count too: empty entries are not bounded by bytes, and followers refuse more
    // (validate_message.h).
    uint64_t max_bytes = config_.max_msg_bytes;
    if (throttled)
      max_bytes = std::min<uint64_t>(max_bytes, static_cast<uint64_t>(std::max<int64_t>(pr.learner_tokens, 1)));
    const Index end = throttled && pr.learner_tokens <= 0
                          ? pr.next  // out of tokens: a probe or heartbeat only
                          : std::min(log_.LastIndex() + 1, pr.next + kMaxEntriesPerAppend);
    entries = log_.Slice(pr.next, end, max_bytes);
  }
  if (!prev_term.ok() || !entries.ok()) {
    SendSnapshot(to, pr);
    return false;
  }
  if (entries->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  const bool has_entries = !entries->empty();
  const Index last = has_entries ? entries->back().index : prev;
  // The follower commits at most up to the last entry it can match (what this message proves); sending no more
  // lets it refuse a commit index the message cannot justify.
  m.commit = std::min(log_.committed(), last);
  const uint64_t bytes = DataBytes(*entries);
  if (throttled) pr.learner_tokens -= static_cast<int64_t>(bytes);
  m.entries = std::move(*entries);
  pr.SentEntries(last, bytes, has_entries);
  Send(std::move(m));
  return true;
}

void RaftNode::SendSnapshot(NodeId to, Progress& pr) {
  if (log_.unstable().snapshot) return;  // Our own snapshot is not installed yet; retry later.
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = log_.durable()->Snapshot();
  m.snapshot_data = log_.durable()->SnapshotData();
  Log(absl::StrCat("sending snapshot at ", m.snapshot.term, "/", m.snapshot.index, " to n", to));
  pr.BecomeSnapshot(m.snapshot.index);
  Send(std::move(m));
}

void RaftNode::BroadcastAppend() {
  for (auto& [id, pr] : progress_) {
    if (id != id_) MaybeSendAppend(id, true);
  }
}

void RaftNode::BroadcastHeartbeat(uint64_t context) {
  for (auto& [id, pr] : progress_) {
    if (id == id_) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    m.commit = std::min(pr.match, log_.committed());
    m.context = context;
    Send(std::move(m));
  }
}

bool RaftNode::MaybeCommit() {
  const Index index = JointCommittedIndex(conf_.voters, conf_.voters_outgoing, [&](NodeId id) -> Index {
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.match;
  });
  if (index <= log_.committed() || index > log_.LastIndex()) return false;
  // Raft commits only entries of the current term by counting replicas (paper 5.4.2, Figure 8); earlier ones
  // commit indirectly with them.
  auto term = log_.TermAt(index);
  if (!term.ok()) return false;
  if (*term != term_ && !config_.unsafe_commit_by_counting_old_terms) return false;
  log_.CommitTo(index);
  while (!uncommitted_.empty() && uncommitted_.front().first <= index) {
    uncommitted_bytes_ -= uncommitted_.front().second;
    uncommitted_.pop_front();
  }
  return true;
}

void RaftNode::AppendLeaderEntry(Entry e) {
  e.index = log_.LastIndex() + 1;
  e.term = term_;
  e.base_offset = next_offset_;
  next_offset_ += e.record_count;
  std::vector<Entry> batch;
  batch.push_back(std::move(e));
  log_.Append(std::move(batch));
}

absl::StatusOr<ProposeResult> RaftNode::Propose(std::string data, uint32_t record_count) {
  if (quiesced_) Unquiesce();
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        leader_ == kNoNode ? absl::StrCat("n", id_, " is not the leader; the leader is unknown")
                           : absl::StrCat("n", id_, " is not the leader; the leader is n", leader_));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::UnavailableError(absl::StrCat("leadership is being transferred to n", lead_transferee_));
  }
  const uint64_t bytes = data.size();
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + bytes > config_.max_uncommitted_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("proposal quota full: ", uncommitted_bytes_,
                                                     " bytes uncommitted, limit ", config_.max_uncommitted_bytes));
  }
  ProposeResult r{.index = log_.LastIndex() + 1, .term = term_, .base_offset = next_offset_};
  Entry e;
  e.record_count = record_count;
  e.data = std::move(data);
  AppendLeaderEntry(std::move(e));
  uncommitted_.emplace_back(r.index, bytes);
  uncommitted_bytes_ += bytes;
  pending_broadcast_ = true;
  return r;
}

absl::StatusOr<ProposeResult> RaftNode::ProposeConfChange(const ConfChange& cc) {
  if (quiesced_) Unquiesce();
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrCat("n", id_, " is not the leader; the leader is n", leader_));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::UnavailableError(absl::StrCat("leadership is being transferred to n", lead_transferee_));
  }
  if (pending_conf_index_ > log_.applied()) {
    return absl::FailedPreconditionError(absl::StrCat("a configuration change is pending: index ",
                                                      pending_conf_index_, " not applied yet (applied ",
                                                      log_.applied(), ")"));
  }
  if (auto next = ApplyConfChange(conf_, cc); !next.ok()) return next.status();
  if (cc.type == ConfChangeType::kRemoveNode && cc.node == id_) {
    return absl::FailedPreconditionError("the leader cannot remove itself; transfer leadership first");
  }
  if (cc.type == ConfChangeType::kPromoteLearner) {
    const Progress& pr = progress_.at(cc.node);
    if (pr.match < log_.committed()) {
      return absl::FailedPreconditionError(absl::StrCat("learner n", cc.node, " is not caught up: match ",
                                                        pr.match, " < commit ", log_.committed()));
    }
  }
  ProposeResult r{.index = log_.LastIndex() + 1, .term = term_, .base_offset = next_offset_};
  Entry e;
  e.type = EntryType::kConfChange;
  e.data = EncodeConfChange(cc);
  AppendLeaderEntry(std::move(e));
  pending_conf_index_ = r.index;
  pending_broadcast_ = true;
  Log(absl::StrCat("proposed ", DescribeConfChange(cc), " at index=", r.index));
  return r;
}

absl::Status RaftNode::TransferLeadership(NodeId target) {
  if (quiesced_) Unquiesce();
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrCat("n", id_, " is not the leader; the leader is n", leader_));
  }
  if (target == id_) return absl::OkStatus();
  if (!Contains(conf_.voters, target)) {
    return absl::InvalidArgumentError(absl::StrCat("n", target, " is not a voter of this group"));
  }
  if (lead_transferee_ == target) return absl::OkStatus();
  if (lead_transferee_ != kNoNode) AbortTransfer();
  lead_transferee_ = target;
  election_elapsed_ = 0;  // The transfer is aborted after one election timeout.
  Log(absl::StrCat("transferring leadership to n", target));
  Progress& pr = progress_.at(target);
  if (pr.match == log_.LastIndex()) {
    Message tn;
    tn.type = MessageType::kTimeoutNow;
    tn.to = target;
    Send(std::move(tn));
  } else {
    MaybeSendAppend(target, true);
  }
  return absl::OkStatus();
}

void RaftNode::AbortTransfer() {
  Log(absl::StrCat("aborted leadership transfer to n", lead_transferee_));
  lead_transferee_ = kNoNode;
}

// ---------------------------------------------------------------------------------------------------------------
// Membership.

bool RaftNode::Promotable() const { return Contains(conf_.voters, id_) || Contains(conf_.voters_outgoing, id_); }
bool RaftNode::is_learner() const { return Contains(conf_.learners, id_); }
bool RaftNode::is_member() const { return Promotable() || is_learner(); }

bool RaftNode::NeedsSnapshotToJoin() const {
  return conf_.voters.empty() && conf_.learners.empty() && log_.LastIndex() == 0 && !log_.unstable().snapshot;
}

bool RaftNode::HasUnappliedConfChange() const {
  if (log_.committed() <= log_.applied()) return false;
  auto entries = log_.Slice(log_.applied() + 1, log_.committed() + 1, config_.max_committed_bytes_per_ready);
  if (!entries.ok()) return false;
  for (const Entry& e : *entries) {
    if (e.type == EntryType::kConfChange) return true;
  }
  return false;
}

void RaftNode::ApplyConfEntry(const Entry& e) {
  auto cc = DecodeConfChange(e.data);
  if (!cc.ok()) {
    Log(absl::StrCat("skipped conf entry at index=", e.index, ": ", cc.status().message()));
    return;
  }
  auto next = ApplyConfChange(conf_, *cc);
  if (!next.ok()) {
    Log(absl::StrCat("skipped ", DescribeConfChange(*cc), " at index=", e.index, ": ", next.status().message()));
    return;
  }
  conf_ = std::move(*next);
  pending_conf_state_ = conf_;
  Log(absl::StrCat("applied ", DescribeConfChange(*cc), " at index=", e.index, ": ", DescribeConfState(conf_)));
  if (role_ != Role::kLeader) return;
  ResetProgress();
  pending_broadcast_ = true;  // Probe new members at once.
  if (lead_transferee_ != kNoNode && !Contains(conf_.voters, lead_transferee_)) AbortTransfer();
  if (!Promotable()) {
    // Removed by an earlier leader's change we are only now applying: stop leading.
    BecomeFollower(term_, kNoNode);
    return;
  }
  if (MaybeCommit()) pending_broadcast_ = true;
}

// ---------------------------------------------------------------------------------------------------------------
// Ready.

void RaftNode::Send(Message m) {
  m.from = id_;
  if (m.type != MessageType::kPreVote && m.type != MessageType::kPreVoteResponse &&
      m.type != MessageType::kVoteResponse) {
    m.term = term_;
  }
  if (MaySendBeforePersist(m.type) || config_.unsafe_ack_before_persist) {
    msgs_.push_back(std::move(m));
  } else {
    msgs_after_persist_.push_back(std::move(m));
  }
}

bool RaftNode::HasReady() const {
  if (pending_broadcast_ || !msgs_.empty() || !msgs_after_persist_.empty() || pending_conf_state_) return true;
  if (HardState{term_, vote_, log_.committed()} != prev_hard_state_) return true;
  if (!log_.unstable().entries.empty() || log_.unstable().snapshot) return true;
  return log_.ApplicableTo() > log_.applied();
}

Ready RaftNode::GetReady() {
  if (pending_broadcast_) {
    pending_broadcast_ = false;
    if (role_ == Role::kLeader) BroadcastAppend();
  }
  Ready rd;
  const HardState hs{term_, vote_, log_.committed()};
  if (hs != prev_hard_state_) {
    rd.hard_state = hs;
    rd.must_sync = hs.term != prev_hard_state_.term || hs.vote != prev_hard_state_.vote;
    prev_hard_state_ = hs;
  }
  rd.entries = log_.unstable().entries;
  if (log_.unstable().snapshot) {
    rd.snapshot = log_.unstable().snapshot;
    rd.snapshot_data = log_.unstable().snapshot_data;
  }
  rd.must_sync = rd.must_sync || !rd.entries.empty() || rd.snapshot.has_value();
  if (log_.ApplicableTo() > log_.applied()) {
    auto committed =
        log_.Slice(log_.applied() + 1, log_.ApplicableTo() + 1, config_.max_committed_bytes_per_ready);
    if (committed.ok()) rd.committed = std::move(*committed);
    for (const Entry& e : rd.committed) {
      if (e.type == EntryType::kConfChange) ApplyConfEntry(e);
    }
    // Handed out: the next Ready starts after these even before Advance (Advance makes it official).
    if (!rd.committed.empty()) log_.set_applied(rd.committed.back().index);
  }
  // Applying conf changes may have produced messages (a leader committing under the new quorum).
  if (pending_broadcast_) {
    pending_broadcast_ = false;
    if (role_ == Role::kLeader) BroadcastAppend();
  }
  rd.conf_state = std::move(pending_conf_state_);
  pending_conf_state_.reset();
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.messages_after_persist = std::move(msgs_after_persist_);
  msgs_after_persist_.clear();
  return rd;
}

void RaftNode::Advance(const Ready& rd) {
  if (rd.snapshot) {
    UnstableLog& u = log_.mutable_unstable();
    if (u.snapshot && u.snapshot->index == rd.snapshot->index && u.snapshot->term == rd.snapshot->term) {
      u.snapshot.reset();
      u.snapshot_data.clear();
    }
    if (log_.applied() < rd.snapshot->index) log_.set_applied(rd.snapshot->index);
  }
  if (!rd.entries.empty()) log_.StableTo(rd.entries.back().index, rd.entries.back().term);
  if (role_ == Role::kLeader) {
    // Our own entries count towards a quorum only now that they are durable.
    auto it = progress_.find(id_);
    if (it != progress_.end() && it->second.MaybeUpdate(log_.StableLastIndex()) && MaybeCommit()) {
      pending_broadcast_ = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Queries.

std::vector<ReplicaProgress> RaftNode::progress() const {
  std::vector<ReplicaProgress> out;
  for (const auto& [id, pr] : progress_) {
    out.push_back(ReplicaProgress{.id = id,
                                  .match = pr.match,
                                  .next = pr.next,
                                  .state = pr.state,
                                  .learner = pr.learner,
                                  .recent_active = pr.recent_active,
                                  .ticks_since_heard = pr.ticks_since_heard,
                                  .inflight_msgs = pr.inflights.count(),
                                  .inflight_bytes = pr.inflights.bytes()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

bool RaftNode::AllCaughtUp() const {
  if (role_ != Role::kLeader || log_.committed() != log_.LastIndex()) return false;
  for (const auto& [id, pr] : progress_) {
    if (pr.match != log_.LastIndex()) return false;
  }
  return true;
}

bool RaftNode::CanQuiesce() const {
  return CanQuiesce([](NodeId) { return true; });
}

bool RaftNode::CanQuiesce(const std::function<bool(NodeId)>& live) const {
  if (quiesced_ || role_ != Role::kLeader || log_.committed() != log_.LastIndex() || lead_transferee_ != kNoNode ||
      !conf_.voters_outgoing.empty() || HasUnappliedConfChange()) {
    return false;
  }
  size_t caught_up_voters = 0;
  for (const auto& [id, pr] : progress_) {
    const bool caught_up = pr.match == log_.LastIndex();
    if (!caught_up && (id == id_ || live(id))) return false;
    if (caught_up && std::find(conf_.voters.begin(), conf_.voters.end(), id) != conf_.voters.end()) {
      ++caught_up_voters;
    }
  }
  return caught_up_voters >= conf_.voters.size() / 2 + 1;
}

void RaftNode::Quiesce() {
  Quiesce([](NodeId) { return true; });
}

void RaftNode::Quiesce(const std::function<bool(NodeId)>& live) {
  if (!CanQuiesce(live)) return;
  BroadcastHeartbeat(kQuiesceHeartbeat);
  quiesced_ = true;
}

void RaftNode::Unquiesce() {
  quiesced_ = false;
  if (wake_hook_) wake_hook_();
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  for (auto& [id, pr] : progress_) {
    pr.recent_active = true;
    pr.ticks_since_heard = 0;
  }
}

void RaftNode::WakeLeaderSilent() {
  int elapsed = election_elapsed_;
  if (quiesced_) {
    Unquiesce();
    elapsed = 0;
  }
  if (role_ != Role::kLeader) election_elapsed_ = std::max(elapsed, config_.election_ticks);
}

bool RaftNode::QuietMessage(const Message& m) const {
  if (m.term != term_) return false;
  if (role_ == Role::kLeader) return m.type == MessageType::kHeartbeatResponse;
  return role_ == Role::kFollower && m.type == MessageType::kHeartbeat && m.context == kQuiesceHeartbeat &&
         m.from == leader_;
}

absl::Status RaftNode::CheckInvariants() const {
  const Index last = log_.LastIndex();
  if (term_ > kMaxTerm) {
    return absl::InternalError(absl::StrCat("n", id_, " term ", term_, " is beyond the ceiling ", kMaxTerm));
  }
  if (log_.committed() > last) {
    return absl::InternalError(absl::StrCat("n", id_, " commit ", log_.committed(), " > last index ", last));
  }
  if (log_.applied() > log_.committed()) {
    return absl::InternalError(
        absl::StrCat("n", id_, " applied ", log_.applied(), " > commit ", log_.committed()));
  }
  if (log_.FirstIndex() > last + 1) {
    return absl::InternalError(absl::StrCat("n", id_, " first index ", log_.FirstIndex(), " > last+1 ", last + 1));
  }
  if (absl::Status recent = log_.CheckRecent(); !recent.ok()) {
    return absl::InternalError(absl::StrCat("n", id_, " ", recent.message()));
  }
  if (role_ == Role::kLeader) {
    if (leader_ != id_) return absl::InternalError(absl::StrCat("n", id_, " leads but leader_=", leader_));
    size_t members = conf_.voters.size() + conf_.learners.size();
    if (progress_.size() != members) {
      return absl::InternalError(
          absl::StrCat("n", id_, " tracks ", progress_.size(), " progresses for ", members, " members"));
    }
    for (const auto& [id, pr] : progress_) {
      if (pr.match >= pr.next || pr.match > last) {
        return absl::InternalError(
            absl::StrCat("n", id_, " progress of n", id, ": match=", pr.match, " next=", pr.next, " last=", last));
      }
    }
  }
  return absl::OkStatus();
}

void RaftNode::Log(std::string_view what) const {
  if (!config_.logger) return;
  std::string line = absl::StrCat("g", config_.group, " n", id_, " term=", term_, " ");
  line.append(what);
  config_.logger(line);
}

}  // namespace brook::raft
