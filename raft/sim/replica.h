// One simulated node: a RaftNode plus what its host would keep on disk (a MemoryLog, the hard state, the
// membership and applied index) and its state machine (the applied entries). Shared by the scripted Cluster,
// the randomized Simulator and the benchmark, so all three obey the persistence contract the same way.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "raft/memory_log.h"
#include "raft/raft.h"

namespace brook::raft::sim {

struct Replica {
  NodeId id = kNoNode;
  Config config;
  // Durable state: survives Crash().
  std::unique_ptr<MemoryLog> log = std::make_unique<MemoryLog>();
  HardState hard_state;
  ConfState conf;
  Index applied = 0;
  // The state machine: every applied entry, by index, since the last snapshot install (tests read it).
  std::vector<Entry> applied_entries;
  // Volatile.
  std::unique_ptr<RaftNode> raft;
  bool down = false;

  // Creates the RaftNode from the durable state (first start and restarts alike).
  absl::Status Start();
  // Loses everything not durable: the RaftNode with its unstable entries, and any Ready not yet persisted.
  void Crash() {
    raft.reset();
    down = true;
  }
  // Makes a Ready durable as a host would (snapshot, entries, hard state), then applies rd.committed.
  // The caller sends rd.messages before and rd.messages_after_persist after this, then calls raft->Advance(rd).
  absl::Status Persist(const Ready& rd);
  absl::Status Apply(const Ready& rd);
  // The host drops the log prefix up to `index` (<= applied).
  absl::Status Compact(Index index);
};

}  // namespace brook::raft::sim
