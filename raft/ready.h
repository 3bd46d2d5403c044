// The batch of work a RaftNode hands its host, and the persistence contract that goes with it.
//
// The host loop, for one or many groups (README.md "Persistence contract"):
//
//   Ready rd = node.GetReady();
//   send(rd.messages);                          // May leave now, before anything below is durable.
//   if (rd.snapshot)  replace log + state machine with (*rd.snapshot, rd.snapshot_data);
//   append(rd.entries);                         // Drop the durable suffix from rd.entries[0].index first.
//   if (rd.hard_state) store(*rd.hard_state);
//   if (rd.MustSync()) fsync();                 // One sync may cover the Ready of many groups.
//   send(rd.messages_after_persist);            // Only now: they promise durability.
//   apply(rd.committed); store(rd.conf_state, applied index);
//   node.Advance(rd);
//
// GetReady may not be called again before Advance of the previous Ready.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace brook::raft {

struct Ready {
  // Term, vote and commit changed since the last Ready. Term and vote must be durable before
  // messages_after_persist leave; commit alone needs no sync (losing it is safe).
  std::optional<HardState> hard_state;
  // Entries to append. If entries[0].index <= the durable last index, the host first drops its durable entries
  // from entries[0].index on (a follower replacing a conflicting suffix); never below the commit index.
  std::vector<Entry> entries;
  // A snapshot from the leader: the host replaces its whole log with an empty one starting after snapshot->index
  // (next offset snapshot->next_offset) and its state machine with snapshot_data.
  std::optional<SnapshotMeta> snapshot;
  std::string snapshot_data;
  // May be sent before the above is durable: the leader's kAppend/kHeartbeat/kSnapshot/kTimeoutNow (the leader
  // replicates in parallel with its own disk write and counts its own entries in a quorum only after Advance)
  // and pre-vote traffic (it changes no state).
  std::vector<Message> messages;
  // Only after the above is durable: votes (kVote carries the candidate's self-vote, kVoteResponse a granted
  // vote), append and heartbeat responses (they acknowledge entries or reveal a term that must not be forgotten).
  std::vector<Message> messages_after_persist;
  // Committed entries to apply, in order, all durable locally. Configuration entries among them have already
  // taken effect inside the node; conf_state is then the resulting membership.
  std::vector<Entry> committed;
  // The membership after applying `committed` (or installing `snapshot`); persist with the applied index.
  std::optional<ConfState> conf_state;

  // True if term/vote changed, or there are entries or a snapshot to persist. A commit-only change needs no sync.
  bool must_sync = false;
  bool MustSync() const { return must_sync; }
};

}  // namespace brook::raft
