// Quiet idle groups (docs/decisions.md D13), the host's half; the Raft core's half is RaftNode::Quiesce.
//
// On every tick, instead of ticking every group: a leader that has been CanQuiesce for idle_ticks() ticks in a row
// goes quiet (its followers follow on its last heartbeat); quiet groups are not ticked; a quiet follower whose
// leader's node has not been heard from for an election timeout is woken, so it campaigns as if the leader had
// stopped heartbeating. Any proposal or message wakes a group inside the core. A member whose node is not heard
// from (Alive) need not hold everything for the leader to go quiet, if the rest are a quorum; the leader is woken
// once that node is heard from again, to bring the member up to date.
//
// Liveness stands in for the heartbeats of all quiet groups: every node sends each member one small batch per
// heartbeat interval (MessageBatch.liveness_beat), and records when it last heard from each (any batch counts).
// A node is also taken for down as soon as its stream to this node ended and nothing came from it for a heartbeat
// interval and a tick after (a live node reopens a broken stream within 50 ms and beats every interval; a killed
// one's sockets close at once): the followers of the groups it led then campaign without waiting out an election
// timeout of silence, quiet or not.
//
// Loop thread only. Cost per tick: one pass over the groups (a flag test for the quiet ones); per heartbeat
// interval, one batch of a few bytes per member.
#pragma once

#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/host/context.h"

namespace brook::server {

class Quiescence {
 public:
  explicit Quiescence(HostContext* ctx) : ctx_(ctx), started_(ctx->clock->Now()) {}

  // A batch from `node` arrived.
  void Heard(uint64_t node, Clock::TimePoint now) { heard_[node] = now; }
  // A tick is due: ticks the groups that are awake, quiets the idle leaders, wakes quiet followers whose
  // leader's node went silent. With quiescence off (HostOptions::quiesce_idle_groups), ticks every group.
  void Tick(Clock::TimePoint now);
  // Sends every member a liveness beat when a heartbeat interval has passed since the last one (whether or not
  // quiescence is on: Alive answers from them).
  void Beat(Clock::TimePoint now);
  // Whether `node` was heard from within an election timeout and not gone silent since its stream ended (this
  // node always is; every node is during the first election timeout after start, before its first beat could
  // arrive).
  bool Alive(uint64_t node, Clock::TimePoint now) const;

  // Ticks a leader must have been caught up before it goes quiet: two heartbeat intervals, so a burst of
  // proposals with short pauses does not quiesce and wake the group every pause.
  int idle_ticks() const { return 2 * ctx_->options->heartbeat_ticks; }

 private:
  HostContext* const ctx_;
  std::map<uint64_t, Clock::TimePoint> heard_;
  // Notes when a member's stream to this node ended (Network::streams_ended moved since the last look).
  void NoteStreamEnds(Clock::TimePoint now);
  struct StreamEnd {
    uint64_t count = 0;     // Network::streams_ended when last looked at
    Clock::TimePoint at{};  // when it was seen to move
  };
  std::map<uint64_t, StreamEnd> ended_;
  // Whether the quiet leader of `group` has a member that lagged when it went quiet and whose node is heard
  // from again (the leader must wake to bring it up to date).
  bool LaggardBack(uint64_t group, const raft::RaftNode& r, Clock::TimePoint now) const;
  // Wakes the sleeping groups that must act (GroupRegistry::ForEachAwake leaves them out): quiet leaders whose
  // lagging member's node is back, quiet followers whose leader's node fell silent.
  void WakeSleepers(Clock::TimePoint now);

  absl::flat_hash_map<uint64_t, int> idle_;  // leader group id -> consecutive ticks it could have quiesced
  absl::flat_hash_set<uint64_t> lagging_;    // quiet leader group ids with a member down when they went quiet
  std::set<uint64_t> silent_;                // member nodes not heard from, as of the last sweep
  Clock::TimePoint next_sweep_{};
  Clock::TimePoint next_beat_{};
  const Clock::TimePoint started_;
};

}  // namespace brook::server
