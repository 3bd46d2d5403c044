#include "raft/sim/simulator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/sim/checker.h"
#include "raft/sim/forger.h"
#include "raft/sim/replica.h"
#include "raft/sim/rng.h"

namespace brook::raft::sim {
namespace {

constexpr int kTickMs = 10;            // One Raft tick.
constexpr int kElectionTicks = 10;     // 100 ms minimum election timeout.
constexpr int kMaxNetDelayMs = 15;     // Per-message delay in [1, kMaxNetDelayMs]: reorders freely.
constexpr int kMaxDiskMs = 3;          // A Ready is durable 0..kMaxDiskMs after GetReady.
constexpr int kLeaderBoundMs = 3000;   // After healing, a leader within this.
constexpr int kCatchUpBoundMs = 5000;  // ... and every acked proposal applied on every member within this.
constexpr int kFaultEveryMs = 150;     // Mean interval between fault events.

struct InFlight {
  int64_t at;
  uint64_t seq;
  Message msg;
  bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

struct SimNode {
  Replica replica;
  std::optional<Ready> pending;  // Handed out by GetReady, not yet durable.
  int64_t persist_at = 0;
  int tick_phase = 0;
  int64_t restart_at = -1;
};

struct Proposal {
  Index index;
  Term term;
  std::string data;
  NodeId proposer;
  bool acked = false;
};

// Where a message stepped into a node comes from.
enum class Origin : uint8_t { kGenuine, kReplayed, kForged };

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : o_(o), rng_(o.seed), forger_(ClusterIds(o)) {}

  absl::Status Run(SimStats* stats);

 private:
  void Trace(const std::string& line) {
    if (o_.trace) o_.trace(absl::StrCat("t=", now_, " ", line));
  }
  static std::vector<NodeId> ClusterIds(const SimOptions& o) {
    std::vector<NodeId> ids;
    for (int k = 1; k <= o.voters + (o.membership ? 1 : 0); ++k) ids.push_back(k);
    return ids;
  }
  absl::Status Step(bool chaos);
  // Delivers a message due now (with forgeries and replays around it in Byzantine mode).
  absl::Status Deliver(const Message& m, bool chaos);
  absl::Status StepInto(SimNode& n, const Message& m, Origin origin);
  absl::Status HandleReady(SimNode& n);
  absl::Status Persist(SimNode& n);
  void Send(const Message& m);
  bool Connected(NodeId from, NodeId to) const { return !cut_.contains({from, to}); }
  void Fault();
  void Heal();
  void Crash(SimNode& n);
  absl::Status Restart(SimNode& n);
  void MaybePropose();
  void MaybeChangeMembership();
  void MaybeCompact();
  absl::Status CheckAll();
  SimNode* Leader();
  std::vector<NodeId> Members();
  std::string Describe();

  SimOptions o_;
  Rng rng_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::map<NodeId, SimNode> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> network_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  double drop_ = 0, dup_ = 0;
  Checker checker_;
  Forger forger_;
  std::vector<Proposal> proposals_;
  std::map<std::string, size_t> proposal_by_data_;
  uint64_t next_proposal_ = 0;
  int membership_step_ = 0;
  SimStats stats_;
  NodeId last_leader_ = kNoNode;
};

absl::Status Simulation::Run(SimStats* stats) {
  const int total = o_.voters + (o_.membership ? 1 : 0);
  ConfState initial;
  for (int k = 1; k <= o_.voters; ++k) initial.voters.push_back(k);
  for (NodeId id = 1; id <= static_cast<NodeId>(total); ++id) {
    SimNode& n = nodes_[id];
    n.replica.id = id;
    Config& c = n.replica.config;
    c.election_ticks = kElectionTicks;
    c.heartbeat_ticks = 1;
    c.seed = o_.seed;
    c.max_inflight_msgs = 4 + rng_.Uniform(8);  // Small windows exercise flow control.
    c.max_msg_bytes = 64 + rng_.Uniform(256);
    c.unsafe_commit_by_counting_old_terms = o_.unsafe_commit_by_counting_old_terms;
    c.unsafe_ack_before_persist = o_.unsafe_ack_before_persist;
    c.unsafe_skip_message_validation = o_.unsafe_skip_message_validation;
    c.is_cluster_node = [total](NodeId peer) { return peer >= 1 && peer <= static_cast<NodeId>(total); };
    if (o_.trace) c.logger = [this](std::string_view line) { Trace(std::string(line)); };
    if (id <= static_cast<NodeId>(o_.voters)) {
      n.replica.conf = initial;
      n.replica.log->ApplySnapshot(SnapshotMeta{0, 0, 0, initial}, "");
    }
    n.tick_phase = static_cast<int>(rng_.Uniform(kTickMs));
    if (absl::Status s = n.replica.Start(); !s.ok()) return s;
  }
  drop_ = 0.02;
  dup_ = 0.02;
  // Chaos.
  while (now_ < o_.chaos_ms) {
    if (absl::Status s = Step(true); !s.ok()) return s;
  }
  Heal();
  // Liveness: a leader soon, then everything acknowledged reaches every member.
  const int64_t healed_at = now_;
  while (Leader() == nullptr) {
    if (now_ - healed_at > kLeaderBoundMs) {
      return absl::DeadlineExceededError(
          absl::StrCat("LIVENESS: no leader ", kLeaderBoundMs, " ms after healing\n", Describe()));
    }
    if (absl::Status s = Step(false); !s.ok()) return s;
  }
  const int64_t leader_at = now_;
  for (;;) {
    Index need = 0;
    for (const Proposal& p : proposals_) {
      if (p.acked) need = std::max(need, p.index);
    }
    bool done = true;
    for (NodeId id : Members()) {
      SimNode& n = nodes_.at(id);
      if (n.replica.raft == nullptr || n.replica.applied < need) done = false;
    }
    if (done) break;
    if (now_ - leader_at > kCatchUpBoundMs) {
      return absl::DeadlineExceededError(absl::StrCat("LIVENESS: acknowledged proposals up to index ", need,
                                                      " not applied on every member ", kCatchUpBoundMs,
                                                      " ms after a leader emerged\n", Describe()));
    }
    if (absl::Status s = Step(false); !s.ok()) return s;
  }
  for (const Proposal& p : proposals_) {
    if (!p.acked) continue;
    const Entry* e = checker_.Applied(p.index);
    if (e == nullptr || e->data != p.data) {
      return absl::InternalError(absl::StrCat("SAFETY VIOLATION: acknowledged proposal ", p.data, " at index ",
                                              p.index, " is not what was applied there"));
    }
  }
  stats_.sim_ms = now_;
  if (stats) *stats = stats_;
  return absl::OkStatus();
}

absl::Status Simulation::Step(bool chaos) {
  ++now_;
  // Restarts due.
  for (auto& [id, n] : nodes_) {
    if (n.replica.down && n.restart_at >= 0 && now_ >= n.restart_at) {
      if (absl::Status s = Restart(n); !s.ok()) return s;
    }
  }
  // Ticks.
  for (auto& [id, n] : nodes_) {
    if (!n.replica.down && now_ % kTickMs == n.tick_phase) n.replica.raft->Tick();
  }
  // Deliveries due.
  while (!network_.empty() && network_.top().at <= now_) {
    Message m = network_.top().msg;
    network_.pop();
    if (absl::Status s = Deliver(m, chaos); !s.ok()) return s;
  }
  if (chaos) {
    if (rng_.Uniform(kFaultEveryMs) == 0) Fault();
    if (o_.membership && rng_.Uniform(200) == 0) MaybeChangeMembership();
  }
  if (o_.compaction && rng_.Uniform(50) == 0) MaybeCompact();
  if (rng_.Uniform(chaos ? 4 : 10) == 0) MaybePropose();
  // Disk and host loop.
  for (auto& [id, n] : nodes_) {
    if (n.replica.down) continue;
    if (n.pending && now_ >= n.persist_at) {
      if (absl::Status s = Persist(n); !s.ok()) return s;
    }
    if (!n.pending && n.replica.raft->HasReady()) {
      if (absl::Status s = HandleReady(n); !s.ok()) return s;
    }
  }
  return CheckAll();
}

absl::Status Simulation::Deliver(const Message& m, bool chaos) {
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || it->second.replica.down || !Connected(m.from, m.to)) return absl::OkStatus();
  SimNode& n = it->second;
  if (o_.byzantine > 0 && chaos) {
    if (rng_.Chance(o_.byzantine / 2)) {
      if (std::optional<Message> old = forger_.Replay(rng_)) {
        auto to = nodes_.find(old->to);
        if (to != nodes_.end() && !to->second.replica.down) {
          ++stats_.replayed;
          if (absl::Status s = StepInto(to->second, *old, Origin::kReplayed); !s.ok()) return s;
        }
      }
    }
    if (rng_.Chance(o_.byzantine)) {
      const auto kind = static_cast<ForgeryKind>(rng_.Uniform(kForgeryKinds));
      Message forged = forger_.Forge(kind, m, *n.replica.raft, rng_);
      ++stats_.forged;
      Trace(absl::StrCat("forged (", ForgeryKindName(kind), "): ", DescribeMessage(forged)));
      if (absl::Status s = StepInto(n, forged, Origin::kForged); !s.ok()) return s;
      if (rng_.Chance(0.5)) return absl::OkStatus();  // Instead of the genuine one.
    }
    forger_.Remember(m);
  }
  return StepInto(n, m, Origin::kGenuine);
}

// Every forgery must be dropped. A genuine (or replayed) message may be dropped only for a reason a correct sender
// can cause (a late answer, a removed sender, a duplicate snapshot): anything else is validation refusing what
// Raft legitimately sends.
absl::Status Simulation::StepInto(SimNode& n, const Message& m, Origin origin) {
  RaftNode& raft = *n.replica.raft;
  const DroppedMessages before = raft.dropped();
  const absl::Status s = raft.Step(m);
  if (s.ok()) {
    if (origin == Origin::kForged && !o_.unsafe_skip_message_validation) {
      return absl::InternalError(
          absl::StrCat("FORGERY ACCEPTED: n", n.replica.id, " took ", DescribeMessage(m, true), "\n", Describe()));
    }
    return absl::OkStatus();
  }
  if (origin == Origin::kForged) {
    ++stats_.forged_dropped;
    return absl::OkStatus();
  }
  ++stats_.genuine_dropped;
  const DroppedMessages& after = raft.dropped();
  for (DropReason r : {DropReason::kWrongRole, DropReason::kNotMember, DropReason::kStaleSnapshot}) {
    if (after[r] > before[r])
      return absl::OkStatus();  // A correct sender causes these (late, removed, duplicate).
  }
  if (o_.unsafe_skip_message_validation) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("VALIDATION REJECTED A GENUINE MESSAGE at n", n.replica.id, ": ",
                                          s.ToString(), "\n", DescribeMessage(m, true), "\n", Describe()));
}

absl::Status Simulation::HandleReady(SimNode& n) {
  Ready rd = n.replica.raft->GetReady();
  if (absl::Status s = checker_.OnReady(*n.replica.raft, rd); !s.ok()) return s;
  for (const Message& m : rd.messages) Send(m);
  n.persist_at = now_ + static_cast<int64_t>(rng_.Uniform(kMaxDiskMs + 1));
  n.pending = std::move(rd);
  if (n.persist_at <= now_) return Persist(n);
  return absl::OkStatus();
}

absl::Status Simulation::Persist(SimNode& n) {
  Ready rd = std::move(*n.pending);
  n.pending.reset();
  Replica& r = n.replica;
  if (rd.snapshot) ++stats_.snapshots_installed;
  if (absl::Status s = r.Persist(rd); !s.ok()) return s;
  for (const Message& m : rd.messages_after_persist) Send(m);
  for (const Entry& e : rd.committed) {
    if (absl::Status s = checker_.OnApply(r.id, e); !s.ok()) return s;
    if (e.type == EntryType::kConfChange) ++stats_.conf_changes_applied;
    auto it = proposal_by_data_.find(std::string(e.data.view()));
    if (it != proposal_by_data_.end() && e.type == EntryType::kNormal) {
      Proposal& p = proposals_[it->second];
      // Acknowledged to the client once the proposer applies it at the index/term it was given.
      if (p.proposer == r.id && p.index == e.index && p.term == e.term && !p.acked) {
        p.acked = true;
        ++stats_.proposals_acked;
      }
    }
  }
  if (absl::Status s = r.Apply(rd); !s.ok()) return s;
  r.raft->Advance(rd);
  return absl::OkStatus();
}

void Simulation::Send(const Message& m) {
  if (rng_.Chance(drop_)) return;
  const int copies = rng_.Chance(dup_) ? 2 : 1;
  for (int k = 0; k < copies; ++k) {
    network_.push(InFlight{now_ + 1 + static_cast<int64_t>(rng_.Uniform(kMaxNetDelayMs)), seq_++, m});
  }
}

void Simulation::Fault() {
  std::vector<NodeId> ids;
  for (auto& [id, n] : nodes_) ids.push_back(id);
  switch (rng_.Uniform(8)) {
    case 0: {  // Symmetric partition into two random sides.
      cut_.clear();
      std::vector<NodeId> a, b;
      for (NodeId id : ids) (rng_.Uniform(2) ? a : b).push_back(id);
      for (NodeId x : a) {
        for (NodeId y : b) {
          cut_.insert({x, y});
          cut_.insert({y, x});
        }
      }
      Trace(absl::StrCat("fault: partition (", absl::StrJoin(a, " "), ") / (", absl::StrJoin(b, " "), ")"));
      break;
    }
    case 1: {  // One-way cut.
      NodeId x = ids[rng_.Uniform(ids.size())], y = ids[rng_.Uniform(ids.size())];
      if (x != y) cut_.insert({x, y});
      Trace(absl::StrCat("fault: one-way cut n", x, " -> n", y));
      break;
    }
    case 2: {  // Bridge: two sides that only the bridge node connects.
      cut_.clear();
      NodeId bridge = ids[rng_.Uniform(ids.size())];
      std::vector<NodeId> a, b;
      for (NodeId id : ids) {
        if (id != bridge) (rng_.Uniform(2) ? a : b).push_back(id);
      }
      for (NodeId x : a) {
        for (NodeId y : b) {
          cut_.insert({x, y});
          cut_.insert({y, x});
        }
      }
      Trace(absl::StrCat("fault: bridge n", bridge, " between (", absl::StrJoin(a, " "), ") and (",
                         absl::StrJoin(b, " "), ")"));
      break;
    }
    case 3:
      cut_.clear();
      Trace("fault: heal network");
      break;
    case 4:
    case 5: {  // Crash a node; it restarts later.
      SimNode& n = nodes_.at(ids[rng_.Uniform(ids.size())]);
      if (!n.replica.down) {
        Crash(n);
        n.restart_at = now_ + 50 + static_cast<int64_t>(rng_.Uniform(500));
      }
      break;
    }
    case 6:
      drop_ = rng_.Chance(0.5) ? 0.0 : 0.2 * static_cast<double>(rng_.Uniform(100)) / 100.0;
      dup_ = 0.1 * static_cast<double>(rng_.Uniform(100)) / 100.0;
      Trace(absl::StrCat("fault: drop=", drop_, " dup=", dup_));
      break;
    case 7:
      // Leadership transfer to a random voter.
      if (SimNode* l = Leader()) {
        NodeId to = ids[rng_.Uniform(ids.size())];
        absl::Status s = l->replica.raft->TransferLeadership(to);
        Trace(absl::StrCat("transfer leadership n", l->replica.id, " -> n", to, ": ", s.ToString()));
      }
      break;
  }
}

void Simulation::Heal() {
  cut_.clear();
  drop_ = 0;
  dup_ = 0;
  for (auto& [id, n] : nodes_) {
    if (n.replica.down) n.restart_at = now_;
  }
  Trace("heal: network healed, every node restarts");
}

void Simulation::Crash(SimNode& n) {
  Trace(absl::StrCat("crash n", n.replica.id, n.pending ? " (loses an unpersisted Ready)" : ""));
  n.pending.reset();
  n.replica.Crash();
  ++stats_.crashes;
}

absl::Status Simulation::Restart(SimNode& n) {
  Trace(absl::StrCat("restart n", n.replica.id));
  n.restart_at = -1;
  checker_.OnRestart(n.replica.id);
  return n.replica.Start();
}

SimNode* Simulation::Leader() {
  SimNode* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (n.replica.down || n.replica.raft->role() != Role::kLeader) continue;
    if (best == nullptr || n.replica.raft->term() > best->replica.raft->term()) best = &n;
  }
  return best;
}

std::vector<NodeId> Simulation::Members() {
  SimNode* l = Leader();
  if (l == nullptr) return {};
  std::vector<NodeId> out = l->replica.raft->conf().voters;
  for (NodeId id : l->replica.raft->conf().learners) out.push_back(id);
  return out;
}

void Simulation::MaybePropose() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  std::string data = absl::StrCat("p", next_proposal_);
  auto r = l->replica.raft->Propose(data, 1 + static_cast<uint32_t>(rng_.Uniform(3)));
  if (!r.ok()) return;
  ++next_proposal_;
  proposal_by_data_[data] = proposals_.size();
  proposals_.push_back(Proposal{r->index, r->term, data, l->replica.id});
}

void Simulation::MaybeChangeMembership() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  RaftNode& raft = *l->replica.raft;
  const NodeId spare = static_cast<NodeId>(o_.voters) + 1;
  ConfChange cc;
  switch (membership_step_) {
    case 0:
      cc = {ConfChangeType::kAddLearner, spare};
      break;
    case 1:
      cc = {ConfChangeType::kPromoteLearner, spare};
      break;
    case 2: {
      // Remove a voter other than the leader (a removed node keeps running and may keep campaigning).
      NodeId victim = kNoNode;
      for (NodeId id : raft.conf().voters) {
        if (id != raft.id() && id != spare) victim = id;
      }
      cc = {ConfChangeType::kRemoveNode, victim};
      break;
    }
    default:
      return;
  }
  auto r = raft.ProposeConfChange(cc);
  Trace(absl::StrCat("propose ", DescribeConfChange(cc), " at n", raft.id(), ": ",
                     r.ok() ? absl::StrCat("index ", r->index) : r.status().ToString()));
  if (r.ok()) ++membership_step_;
}

void Simulation::MaybeCompact() {
  std::vector<NodeId> up;
  for (auto& [id, n] : nodes_) {
    if (!n.replica.down) up.push_back(id);
  }
  if (up.empty()) return;
  SimNode& n = nodes_.at(up[rng_.Uniform(up.size())]);
  Replica& r = n.replica;
  if (r.applied < r.log->FirstIndex() + 4) return;
  // Keep a few entries so that not every lagging follower needs a snapshot.
  const Index to = r.applied - rng_.Uniform(3);
  if (to != r.applied) return;  // Replica::Compact records the conf as of `applied`: compact exactly there.
  if (r.Compact(to).ok()) {
    r.raft->Compact(to);
    Trace(absl::StrCat("n", r.id, " compacted its log up to ", to));
  }
}

absl::Status Simulation::CheckAll() {
  for (auto& [id, n] : nodes_) {
    if (n.replica.down) continue;
    if (absl::Status s = checker_.OnStep(*n.replica.raft); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(s.message(), "\n", Describe()));
    }
  }
  SimNode* l = Leader();
  NodeId leader = l ? l->replica.id : kNoNode;
  if (leader != last_leader_ && leader != kNoNode) {
    ++stats_.leader_changes;
    last_leader_ = leader;
  }
  return absl::OkStatus();
}

std::string Simulation::Describe() {
  std::string s = absl::StrCat("at t=", now_, " ms:");
  for (auto& [id, n] : nodes_) {
    if (n.replica.down) {
      absl::StrAppend(&s, "\n  n", id, " down");
      continue;
    }
    const RaftNode& r = *n.replica.raft;
    absl::StrAppend(&s, "\n  n", id, " ", RoleName(r.role()), " term=", r.term(), " leader=", r.leader(), " log=[",
                    r.first_index(), ",", r.last_index(), "] commit=", r.commit_index(),
                    " applied=", r.applied_index(), " ", DescribeConfState(r.conf()));
  }
  return s;
}

}  // namespace

SimOptions OptionsForSeed(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.voters = seed % 2 == 0 ? 3 : 5;
  o.membership = seed % 3 == 1;
  o.compaction = seed % 4 >= 2;
  return o;
}

absl::Status RunSimulation(const SimOptions& options, SimStats* stats) {
  Simulation sim(options);
  return sim.Run(stats);
}

}  // namespace brook::raft::sim
