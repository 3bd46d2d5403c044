// The pure quorum math of Raft: which index a majority has acknowledged, and who won a vote. No state, no I/O;
// property-tested against a naive reference in quorum_test.cc.
//
// A configuration is a majority config (one set of voters) or a joint config (incoming and outgoing sets; both
// must agree). An empty majority config agrees to everything, so a joint config with an empty outgoing set is just
// its incoming set: that is how the core uses it today (one-server-at-a-time changes, README.md).
#pragma once

#include <functional>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "raft/types.h"

namespace brook::raft {

enum class VoteResult : uint8_t { kPending, kLost, kWon };

// Looks up the index a voter has acknowledged; a voter it does not know has acknowledged nothing (0).
using AckedIndex = std::function<Index(NodeId)>;

// The largest index acknowledged by a majority of `voters`. Empty voters: max Index (agrees to anything).
Index MajorityCommittedIndex(const std::vector<NodeId>& voters, const AckedIndex& acked);

// Both halves of a joint config must agree: the min of the two majorities.
Index JointCommittedIndex(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                          const AckedIndex& acked);

// Votes: true = granted, false = rejected, absent = not heard. kWon once a majority granted, kLost once a majority
// can no longer be reached. Empty voters: kWon.
VoteResult MajorityVoteResult(const std::vector<NodeId>& voters, const absl::flat_hash_map<NodeId, bool>& votes);
VoteResult JointVoteResult(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                           const absl::flat_hash_map<NodeId, bool>& votes);

}  // namespace brook::raft
