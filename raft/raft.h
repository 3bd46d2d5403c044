// RaftNode: one Raft group's consensus state machine (the etcd-raft design). A plain value: no threads, no I/O,
// no clock. The host feeds it Tick(), Step(message) and proposals, and drains Ready batches (ready.h). All calls
// must come from one thread (the group's owner); none blocks; GetReady allocates per message and entry.
//
// Roles: follower, pre-candidate (pre-vote round, term unchanged), candidate, leader. A learner is a follower that
// never campaigns and is not counted in quorums (is_learner()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/conf_change.h"
#include "raft/log_reader.h"
#include "raft/message.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/ready.h"
#include "raft/types.h"
#include "raft/validate_message.h"

namespace brook::raft {

struct Config {
  NodeId id = kNoNode;
  GroupId group = 0;  // Only for log lines.
  // A follower that hears no leader for a random number of ticks in [election_ticks, 2*election_ticks) campaigns.
  // Must exceed heartbeat_ticks by a wide margin (10x is customary).
  int election_ticks = 10;
  // The leader sends heartbeats every heartbeat_ticks ticks.
  int heartbeat_ticks = 1;
  // Pre-vote (thesis 9.6): a node first asks whether it could win before it bumps its term, so a node returning
  // from a partition does not depose a healthy leader. Keep on.
  bool pre_vote = true;
  // A leader that has not heard from a majority within an election timeout steps down; followers then ignore
  // vote requests while their leader is fresh (a lease), so removed or partitioned nodes cannot disrupt. Keep on.
  bool check_quorum = true;
  // Per-follower flow control: at most this many appends and bytes of entry data in flight. 256 x 1 MiB messages
  // and 16 MiB: deep enough to fill a LAN pipe, small enough that a slow follower costs bounded transport memory.
  size_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 16 << 20;
  // Upper bound of entry data per kAppend (one entry larger than this is still sent alone).
  uint64_t max_msg_bytes = 1 << 20;
  // Learner throttle: entry data a leader sends each learner per tick, on average (a token bucket refilled every
  // tick, holding at most max(learner_bytes_per_tick, max_msg_bytes); an entry larger than the tokens left goes
  // out when any are left, and the debt is paid by the next ticks). 0: no limit. A new replica copying a large
  // log then costs the leader, the network and the learner a bounded share per tick, and voters are never slowed.
  uint64_t learner_bytes_per_tick = 0;
  // Proposal quota: data bytes proposed but not yet committed. Propose fails with RESOURCE_EXHAUSTED beyond it
  // (an empty quota admits one entry of any size). Fails fast instead of queueing without bound.
  uint64_t max_uncommitted_bytes = 8 << 20;
  // Upper bound of entry data per Ready::committed (at least one entry).
  uint64_t max_committed_bytes_per_ready = 64 << 20;
  // Recent entries: durable entries not yet applied are kept in memory, sharing their data with the unstable log
  // they came from, up to this many data bytes (the oldest go first). The leader sends its followers and every
  // node applies from memory instead of reading its log back; past the limit, reads go to the LogReader.
  uint64_t max_recent_bytes = 8 << 20;
  // Seeds the randomized election timeout. Give every node a different seed (e.g. mix in the node id).
  uint64_t seed = 0;
  // Optional structured log sink ("g7 n2 term=5 became leader"). Off by default.
  std::function<void(std::string_view)> logger;
  // The node ids the host knows as nodes of the cluster (its peer list; later the metadata group's member table,
  // docs/decisions.md D10), or unset. Consulted only for a sender outside this node's applied configuration that
  // sends leader traffic (kAppend, kHeartbeat, kSnapshot) or asks for a vote: it may be a member of a newer
  // configuration this node has not applied yet (this node lags, or is joining), so it is heard if this returns
  // true and dropped (DropReason::kNotMember) otherwise. Unset: only a node that knows no configuration at all (a
  // joining node before its first kSnapshot) hears strangers, from anyone. Set it in production: without it, a
  // replica that lags behind the change adding the current leader waits until leadership moves to a node it
  // knows. Called from Step only; must be cheap and must not call back into the RaftNode.
  std::function<bool(NodeId)> is_cluster_node;

  // TEST ONLY. Breaks Raft on purpose so tests can prove the simulator's checker catches violations:
  // commit entries of earlier terms by counting replicas (the Figure 8 bug).
  bool unsafe_commit_by_counting_old_terms = false;
  // Send votes and append acknowledgements before they are durable (all messages go to Ready::messages).
  bool unsafe_ack_before_persist = false;
  // Step trusts every message (skips ValidateMessage; only a wrong `to` is refused): how the node behaved before
  // it distrusted its input. The simulator's Byzantine mode shows what then breaks.
  bool unsafe_skip_message_validation = false;
};

const char* RoleName(Role r);

struct ProposeResult {
  Index index = 0;
  Term term = 0;
  Offset base_offset = 0;
};

// Per-follower replication status, as the leader sees it.
struct ReplicaProgress {
  NodeId id = kNoNode;
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::kProbe;
  bool learner = false;
  bool recent_active = false;
  int ticks_since_heard = 0;
  size_t inflight_msgs = 0;
  uint64_t inflight_bytes = 0;
};

class RaftNode {
 public:
  // `log` is the durable log (the host keeps it alive and unchanged except through Ready/compaction).
  // `hard_state`, `conf` and `applied` are what the host persisted. A brand-new group is bootstrapped by giving
  // every initial member a log whose Snapshot() is {index 0, term 0, conf = initial voters} and that conf. A node
  // joining later starts with an empty log and an empty conf; the leader sends it a kSnapshot of its log start.
  static absl::StatusOr<std::unique_ptr<RaftNode>> Create(Config config, const LogReader* log,
                                                          const HardState& hard_state, const ConfState& conf,
                                                          Index applied);

  // One unit of logical time (the host decides its length, e.g. 100 ms).
  void Tick();
  // Handles a message addressed to this node. First judges it (ValidateMessage, validate_message.h: address,
  // membership, every field, terms and indexes within bounds, type fitting both roles); a message that fails is
  // dropped: Step returns the error, bumps dropped() and changes nothing else. An append whose entries contradict
  // the committed log (only a lying or broken member sends one) is refused after the term rules: nothing is
  // appended or answered, and it counts as kBadEntries. Drops are routine in small numbers (an answer from a later
  // term after an election, a removed node's late ack), so a host should count them (dropped()), not log each.
  absl::Status Step(const Message& m);
  // Starts an election now (pre-vote first if enabled). No-op for leaders, learners and non-members.
  void Campaign();

  // Appends a kNormal entry carrying `record_count` records (offsets [base_offset, base_offset+record_count)).
  // FAILED_PRECONDITION if not leader (names the known leader), UNAVAILABLE during a leadership transfer,
  // RESOURCE_EXHAUSTED when the proposal quota is full. The entry may still be lost (leader change); the host
  // learns the outcome when an entry at `index` with `term` comes out in Ready::committed (or another term does).
  absl::StatusOr<ProposeResult> Propose(std::string data, uint32_t record_count);
  // Proposes a membership change (one at a time: FAILED_PRECONDITION while one is pending or before the leader
  // has applied its first entry of its term). kPromoteLearner is refused while the learner lags the commit index.
  // Removing the leader itself is refused: transfer leadership first.
  absl::StatusOr<ProposeResult> ProposeConfChange(const ConfChange& cc);
  // Brings `target` up to date, then sends it kTimeoutNow. Aborted after an election timeout. Proposals fail
  // with UNAVAILABLE meanwhile.
  absl::Status TransferLeadership(NodeId target);
  // The host dropped the durable log prefix up to `index` (<= applied). Nothing to do today: the core reads
  // FirstIndex() from the LogReader on demand and sends kSnapshot to followers that need dropped entries.
  void Compact(Index index) {}

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  // Queries.
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  Role role() const { return role_; }
  bool is_learner() const;
  bool is_member() const;
  // Highest committed index known here: the limit for serving reads (Fetch) on leaders and followers alike.
  Index commit_index() const { return log_.committed(); }
  Index applied_index() const { return log_.applied(); }
  Index last_index() const { return log_.LastIndex(); }
  Index first_index() const { return log_.FirstIndex(); }
  absl::StatusOr<Term> term_at(Index i) const { return log_.TermAt(i); }
  absl::StatusOr<std::vector<Entry>> entries(Index lo, Index hi) const { return log_.Slice(lo, hi, UINT64_MAX); }
  const ConfState& conf() const { return conf_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  uint64_t uncommitted_bytes() const { return uncommitted_bytes_; }
  // Messages Step dropped since this RaftNode was created, by reason (validate_message.h): for the host's
  // metrics. Not persisted: a restart starts from zero, like any process counter.
  const DroppedMessages& dropped() const { return dropped_; }
  // Leader only (empty otherwise): replication status of every member including itself.
  std::vector<ReplicaProgress> progress() const;
  // Leader only: every member's log matches the leader's up to the last index and everything is committed. The
  // host may stop ticking the group until the next proposal or message (quiescence).
  bool AllCaughtUp() const;
  // Quiescence (docs/decisions.md D13): an idle group stops ticking and heartbeating.
  // CanQuiesce: a leader whose group is AllCaughtUp, with no transfer or membership change under way. With
  // `live`, a member whose node the host does not hear from (live(id) false) need not hold everything, as long as
  // the voters that do, leader included, are a quorum: a partition written while one replica's node is down can
  // still go quiet. The host must then wake the leader (Unquiesce) once it hears from a lagging member's node
  // again, so that member is brought up to date (the member's own campaign would wake it too, later).
  bool CanQuiesce() const;
  bool CanQuiesce(const std::function<bool(NodeId)>& live) const;
  // Leader, when CanQuiesce: sends every member a last heartbeat marked kQuiesceHeartbeat (carrying the commit
  // index) and goes quiet. A follower that gets it from its leader goes quiet too. Quiet, Tick does nothing. A
  // proposal, Campaign, TransferLeadership or any message wakes the node, except the ones quiet nodes exchange (a
  // quiesce heartbeat from the leader, a heartbeat response to the leader); a leader that is no longer caught up
  // after a message wakes too. The host must wake a quiet follower whose leader's node it stops hearing from
  // (Unquiesce): nothing else would make it campaign.
  void Quiesce();
  void Quiesce(const std::function<bool(NodeId)>& live);
  // Wakes the node as if it had just heard from everyone: election and heartbeat clocks restart, and a leader
  // counts every member recently active (it heard nothing while quiet because nothing was sent).
  void Unquiesce();
  // For a follower whose host has heard nothing from its leader's node for an election timeout, or has seen that
  // node's streams end with nothing after: wakes it if quiet, and counts that as the election timeout a ticking
  // follower would have waited through, so it campaigns within the rest of its randomized timeout and grants votes
  // at once (the leader's lease has run out). Failover of a quiet group then takes as long as a ticking one's.
  void WakeLeaderSilent();
  // Called by Unquiesce, whoever wakes the node: a host that leaves quiet groups out of its per-turn walks learns
  // here that one needs them again. Every way a quiet node's state can change other than Step goes through
  // Unquiesce (Propose, ProposeConfChange, TransferLeadership, Campaign), so the host need only watch Step itself.
  void set_wake_hook(std::function<void()> hook) { wake_hook_ = std::move(hook); }
  bool quiesced() const { return quiesced_; }
  // Internal consistency (commit/applied/log bounds, leader's self-progress). Used by tests and the simulator.
  absl::Status CheckInvariants() const;

 private:
  RaftNode(Config config, const LogReader* log, const HardState& hs, const ConfState& conf, Index applied);

  // Role transitions.
  void BecomeFollower(Term term, NodeId leader);
  // Clears per-role state; a new term also clears the vote.
  void Reset(Term term);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void StartElection(bool pre_vote, bool transfer);

  // Step, one function per role after the term rules.
  void StepLeader(const Message& m);
  absl::Status StepCandidate(const Message& m);
  absl::Status StepFollower(const Message& m);
  void HandleVoteRequest(const Message& m);
  // Errors (nothing appended, no answer) when the entries contradict the log: see RaftLog::MaybeAppend.
  absl::Status HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(const Message& m);
  void HandleAppendResponse(const Message& m, Progress& pr);

  // Leader replication.
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendSnapshot(NodeId to, Progress& pr);
  void BroadcastAppend();
  // One heartbeat to every member; `context` kQuiesceHeartbeat marks the last before the leader goes quiet.
  void BroadcastHeartbeat(uint64_t context = 0);
  bool MaybeCommit();
  void AppendLeaderEntry(Entry e);
  void TickLeader();
  void TickElection();
  void AbortTransfer();

  void ApplyConfEntry(const Entry& e);
  void ResetProgress();
  bool Promotable() const;
  // A node added to a running group starts with an empty log and no membership; it answers the first kAppend
  // with a rejection at index 0 and the leader sends it a kSnapshot of its log start (with the membership).
  bool NeedsSnapshotToJoin() const;
  bool HasUnappliedConfChange() const;
  void ResetRandomizedElectionTimeout();
  // A message quiet nodes exchange, which does not wake a quiesced node (Quiesce).
  bool QuietMessage(const Message& m) const;
  // The receiver's side of ValidateMessage.
  ReceiverView View() const;
  void Send(Message m);
  void Log(std::string_view what) const;

  Config config_;
  NodeId id_;
  Term term_ = 0;          // currentTerm. Never decreases; never exceeds kMaxTerm (so term_ + 1 never wraps).
  NodeId vote_ = kNoNode;  // votedFor in term_.
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  RaftLog log_;
  ConfState conf_;  // The applied membership.

  // Ticks since the last election timeout reset (followers/candidates: since we heard from a leader or voted;
  // leaders: since the last check-quorum round).
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  bool quiesced_ = false;
  std::function<void()> wake_hook_;
  int randomized_election_timeout_ = 0;
  uint64_t rng_state_;

  // Candidate/pre-candidate only: votes received in this election.
  absl::flat_hash_map<NodeId, bool> votes_;

  // Leader only. Invariant: exactly one Progress per member (voters and learners, including ourselves).
  std::map<NodeId, Progress> progress_;  // Ordered: iteration (and so message order) is deterministic.
  NodeId lead_transferee_ = kNoNode;
  // Index of the last conf change entry appended by this leader (or its last index when it took over): a new conf
  // change may be proposed only once applied_index() >= pending_conf_index_.
  Index pending_conf_index_ = 0;
  // Proposal quota: data bytes of this leader's entries not yet committed, and the entries they belong to.
  uint64_t uncommitted_bytes_ = 0;
  std::deque<std::pair<Index, uint64_t>> uncommitted_;
  // base_offset for the next entry this leader appends (end offset of its last entry).
  Offset next_offset_ = 0;

  // Ready bookkeeping.
  HardState prev_hard_state_;
  std::vector<Message> msgs_;
  std::vector<Message> msgs_after_persist_;
  std::optional<ConfState> pending_conf_state_;  // Changed by applied conf entries, not yet in a Ready.
  bool pending_broadcast_ = false;               // Leader: new entries to send, coalesced until GetReady.

  DroppedMessages dropped_;  // Step's refusals, by reason. Only ever increases.
};

}  // namespace brook::raft
