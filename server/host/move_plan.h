// How a partition's leader changes its Raft group to the replicas a move asks for: one membership change at a
// time, each new member first a learner, promoted once caught up, the group never more than one voter above its
// size, a leaving leader handing leadership over before it is removed (docs/operations.md "Moving replicas").
// Pure functions: the leader asks NextMoveStep each time it may change the group, and MoveReplicas' dry run
// shows PlanMove, the same steps on a group where everyone is up and caught up.
#pragma once

#include <functional>
#include <vector>

#include "brook/v1/admin.pb.h"
#include "raft/types.h"

namespace brook::server {

struct MoveAction {
  enum class Kind { kDone, kWait, kStep };
  Kind kind = Kind::kDone;
  v1::MoveStep step;  // kStep only
  static MoveAction Done() { return {}; }
  static MoveAction Wait() { return {Kind::kWait, {}}; }
  static MoveAction Step(v1::MoveStep::Kind k, raft::NodeId node);
};

// What the leader knows of each member: heard from within an election timeout, and holding the commit index.
struct MemberHealth {
  std::function<bool(raft::NodeId)> heard;
  std::function<bool(raft::NodeId)> caught_up;
};

// The next change that brings `conf` (led by `leader`) to the voters `desired`, in this order:
//  1. remove a leaving voter that is not heard from (a dead one; it restores the margin before anything is added);
//  2. remove a learner that is not desired (what a cancelled move added);
//  3. add a desired node that is not a member, as a learner;
//  4. if the group has more voters than desired: remove a leaving voter (another node first; when only the leader
//     is left to leave, TRANSFER_LEADER to a desired voter that is heard and caught up, the first desired one
//     preferred, or wait for one);
//  5. promote a desired learner that is caught up (wait while none is);
//  6. remove the remaining leaving voters as in 4;
//  7. done when the voters are exactly `desired` (as a set) and no learner is left.
MoveAction NextMoveStep(const raft::ConfState& conf, const std::vector<raft::NodeId>& desired, raft::NodeId leader,
                        const MemberHealth& health);

// The whole sequence from voters `from` (led by from[0]) to `to`, assuming every member is up and catches up.
std::vector<v1::MoveStep> PlanMove(const std::vector<raft::NodeId>& from, const std::vector<raft::NodeId>& to);

// "add learner 4", "promote 4", "remove 2", "transfer leadership to 3".
std::string DescribeStep(const v1::MoveStep& step);

}  // namespace brook::server
