// What a leader knows about one follower's log, and the replication state machine driving it (the etcd-raft
// tracker design):
//
//   kProbe     We do not know where the follower's log matches ours. Send one append per heartbeat interval,
//              back off with the follower's conflict hint until one is accepted.
//   kReplicate The follower's log matches up to `match`. Send optimistically (next = last sent + 1) and
//              pipeline up to the Inflights window.
//   kSnapshot  The follower needs entries we compacted. A kSnapshot was sent; wait for its acknowledgement.
#pragma once

#include <string_view>

#include "raft/inflights.h"
#include "raft/types.h"

namespace brook::raft {

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

class Progress {
 public:
  Progress(Index next, size_t max_inflight_msgs, uint64_t max_inflight_bytes, bool learner)
      : next(next), learner(learner), inflights(max_inflight_msgs, max_inflight_bytes) {}

  // Invariant: match < next. `match` is the highest index known to be durable on the follower and equal to ours.
  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  // kProbe: an append was sent this heartbeat interval; wait for a response or the next heartbeat response.
  bool probe_sent = false;
  // kSnapshot: the index of the snapshot sent; the follower leaves kSnapshot once it acknowledges it.
  Index pending_snapshot = 0;
  // Heard from since the last check-quorum round (reset every election timeout by the leader).
  bool recent_active = false;
  // Ticks since we last heard anything from this follower (for metrics and "which replicas are caught up").
  int ticks_since_heard = 0;
  bool learner = false;
  Inflights inflights;
  // Learner throttle (Config::learner_bytes_per_tick): bytes the leader may still send; negative is a debt.
  int64_t learner_tokens = 0;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(Index snapshot_index);

  // The follower acknowledged `index`: raises match (and next if needed). False if the ack is stale.
  bool MaybeUpdate(Index index);
  // The follower rejected the append after `rejected`; `hint` is the index to retry after (the leader computed it
  // from the follower's conflict hint). False if the rejection is stale and must be ignored.
  bool MaybeDecrTo(Index rejected, Index hint);
  // An append with entries up to `last` carrying `bytes` was sent.
  void SentEntries(Index last, uint64_t bytes, bool has_entries);
  // No append may be sent now.
  bool IsPaused() const;
};

}  // namespace brook::raft
