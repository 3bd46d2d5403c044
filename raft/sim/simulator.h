// The randomized simulator: a whole Raft group (3 or 5 nodes, plus spares for membership changes) on a simulated
// clock and a hostile network, driven by one seed. Same seed, same run, bit for bit.
//
// Faults during the chaos phase: message drops, delays (and so reordering), duplicates; symmetric partitions,
// one-way cuts and a bridge node; crashes that lose everything not yet persisted, and restarts. Disk writes take
// simulated time, so a crash can lose a Ready the node already sent kAppend for. Optionally: membership changes
// (add learner, promote, remove) and log compaction (followers then need kSnapshot).
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
};

// Runs one simulation. OK, or the first safety/liveness violation (the message says which and where).
absl::Status RunSimulation(const SimOptions& options, SimStats* stats = nullptr);

}  // namespace brook::raft::sim
