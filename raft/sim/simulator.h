// The randomized simulator: a whole Raft group (3 or 5 nodes, plus spares for membership changes) on a simulated
// clock and a hostile network, driven by one seed. Same seed, same run, bit for bit.
//
// Faults during the chaos phase: message drops, delays (and so reordering), duplicates; symmetric partitions,
// one-way cuts and a bridge node; crashes that lose everything not yet persisted, and restarts. Disk writes take
// simulated time, so a crash can lose a Ready the node already sent kAppend for. Optionally: membership changes
// (add learner, promote, remove) and log compaction (followers then need kSnapshot).
//
// Byzantine input (optional, forger.h): during the chaos phase a fraction of delivered messages is accompanied or
// replaced by a forged one (strangers, misaddressed, huge terms, broken entry lists, unjustified indexes, wrong
// roles, broken snapshots, unknown types, stray fields), and old genuine messages are replayed. Every forgery
// must be dropped by the receiver (else "FORGERY ACCEPTED"); a genuine message may be dropped only for a reason a
// correct sender can cause (wrong_role, not_member, stale_snapshot; else "VALIDATION REJECTED A GENUINE MESSAGE").
//
// After every step the Checker (checker.h) verifies safety. After the faults heal, liveness: a leader within
// kLeaderBoundMs and every acknowledged proposal applied on every member within kCatchUpBoundMs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace brook::raft::sim {

struct SimOptions {
  uint64_t seed = 0;
  int voters = 3;           // 3 or 5.
  bool membership = false;  // Add a learner, promote it, remove a voter during the chaos phase.
  bool compaction = false;  // Nodes compact their logs; lagging followers get snapshots.
  int chaos_ms = 5000;      // Simulated time with faults.
  // TEST ONLY: break Raft on purpose to show the checker catches it (see raft.h Config).
  bool unsafe_commit_by_counting_old_terms = false;
  bool unsafe_ack_before_persist = false;
  // Nodes trust every message (Config::unsafe_skip_message_validation): forgeries are then delivered to see what
  // breaks, and "FORGERY ACCEPTED" is not reported.
  bool unsafe_skip_message_validation = false;
  // Byzantine input: the fraction of deliveries during the chaos phase that bring a forgery (0 = off). Replays
  // come at half that rate.
  double byzantine = 0;
  // Log sink for a replay (every node's structured log lines and the simulator's events), or empty.
  std::function<void(const std::string&)> trace;
};

// Seed -> options: the voter count, membership and compaction are derived from the seed so that a seed range
// covers every mix.
SimOptions OptionsForSeed(uint64_t seed);

struct SimStats {
  int64_t sim_ms = 0;
  uint64_t proposals_acked = 0;
  uint64_t leader_changes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes_applied = 0;
  uint64_t crashes = 0;
  uint64_t forged = 0;           // Forgeries delivered.
  uint64_t forged_dropped = 0;   // ... and refused by Step.
  uint64_t replayed = 0;         // Old genuine messages delivered again.
  uint64_t genuine_dropped = 0;  // Genuine (or replayed) messages refused: late answers, removed senders, stale.
};

// Runs one simulation. OK, or the first safety/liveness violation (the message says which and where).
absl::Status RunSimulation(const SimOptions& options, SimStats* stats = nullptr);

}  // namespace brook::raft::sim
