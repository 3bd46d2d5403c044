// The first thing RaftNode::Step does: judge a message from the network before it may touch any state. Raft
// assumes peers that may crash or be slow but never lie; the node port is reachable by anything that can open a
// connection, so every field of every message is checked against what an honest sender in the claimed role could
// have sent this node (docs/decisions.md D14; README.md "Distrusting input" has the tables and the reasons for
// each bound).
//
// Pure: reads the message and a view of the receiver, changes nothing, and allocates nothing proportional to a
// size the message claims (the work is bounded by the checked counts, kMaxEntriesPerAppend and kMaxConfMembers).
//
// What it cannot catch: a well-formed message forged under the identity of a current member. Raft cannot tell
// that from the member's own; the edge binds node streams to their certificate's node id (docs/decisions.md D12).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>

#include "absl/status/status.h"
#include "raft/message.h"
#include "raft/types.h"

namespace brook::raft {

// Terms never exceed this, so `term + 1` (a campaign) and `term + kMaxTermStep` never wrap. A term reaching
// UINT64_MAX once made the next campaign wrap to term 0 and left a group leaderless for good. 2^63 elections do
// not happen: only a forged or corrupted term gets here.
inline constexpr Term kMaxTerm = std::numeric_limits<Term>::max() / 2;
// A message's term may exceed the receiver's by at most this much. An honest peer is ahead by the number of
// elections held while the receiver was away: 2^32 elections at one per second is 136 years. Bounding the step
// makes a term jump something a sender must repeat 2^31 times to exhaust the term space, not do in one message.
inline constexpr Term kMaxTermStep = Term{1} << 32;
// Indexes (entries, commit, snapshot, hints) never exceed this, so index + count and index + 1 never wrap.
inline constexpr Index kMaxIndex = std::numeric_limits<Index>::max() / 2;
// Entry data plus snapshot data per message: the host's transport refuses larger batches (64 MiB gRPC limit,
// server/node/node.cc), so no honest message carries more.
inline constexpr uint64_t kMaxMessageBytes = uint64_t{64} << 20;
// Entries per kAppend. The leader never puts more in one message (RaftNode::MaybeSendAppend), whatever their
// size: empty entries are not bounded by Config::max_msg_bytes. 65,536 entries of ~50 bytes of framing each are
// ~3 MiB on the wire, far inside kMaxMessageBytes.
inline constexpr size_t kMaxEntriesPerAppend = size_t{1} << 16;
// Voters plus learners in a snapshot's configuration. Group 0 is replicated on every node (D5): a cluster of up
// to 1,024 nodes.
inline constexpr size_t kMaxConfMembers = 1024;

// Why Step dropped a message. Names (DropReasonName) are stable: the host exports them as metric labels.
enum class DropReason : uint8_t {
  kMisaddressed,      // `to` is not this node, `from` is this node or 0.
  kMalformed,         // Unknown message or entry type; a field this type never carries; fields that contradict
                      // each other (log_term above term, a hint above its index, ...).
  kTermOutOfBounds,   // Term above receiver's + kMaxTermStep or above kMaxTerm; 0 on a request; a granted vote for
                      // a term this node did not ask for.
  kNotMember,         // The sender is not allowed to send this to this node (membership table, README.md).
  kWrongRole,         // The sender's claimed role cannot send this, or this node's role does not take it: a
                      // response to a node that is not (any more) leader or candidate, a second leader in a term,
                      // kTimeoutNow from a node that is not our leader.
  kBadEntries,        // Entries not numbered index+1, index+2, ...; terms decreasing, below log_term or above the
                      // message's term; offsets not contiguous; too many or too large; or contradicting the
                      // committed log (found by RaftLog::MaybeAppend).
  kUnjustifiedIndex,  // An index the message cannot justify: a kAppend commit beyond its last entry, a kHeartbeat
                      // commit beyond this node's log, an acknowledgement beyond the leader's log.
  kBadSnapshot,    // Snapshot with an empty, duplicated or oversized configuration, a configuration without this
                   // member, a term above the message's, or index/term that contradict each other.
  kStaleSnapshot,  // Snapshot below this node's commit index (a late duplicate, or a lie): nothing to install.
};
inline constexpr size_t kDropReasonCount = 9;
const char* DropReasonName(DropReason reason);

// Messages Step dropped, by reason, since the RaftNode was created. The host exports them as counters (e.g.
// brook_raft_dropped_messages_total{reason="not_member"}); a rising kMalformed, kTermOutOfBounds, kNotMember or
// kBadSnapshot means something on the node port is broken or hostile. kWrongRole and kStaleSnapshot also count
// the late answers and duplicates any network produces around elections.
struct DroppedMessages {
  std::array<uint64_t, kDropReasonCount> by_reason{};

  uint64_t operator[](DropReason r) const { return by_reason[static_cast<size_t>(r)]; }
  void Add(DropReason r) { ++by_reason[static_cast<size_t>(r)]; }
  uint64_t total() const;
};

// What the receiver knows when it judges a message. Borrowed from the RaftNode for the duration of one call.
struct ReceiverView {
  NodeId id = kNoNode;
  Term term = 0;
  Role role = Role::kFollower;
  NodeId leader = kNoNode;          // Known leader of `term`, or kNoNode.
  const ConfState* conf = nullptr;  // The applied configuration. Never null.
  Index commit = 0;
  Index last_index = 0;
  // Config::is_cluster_node (may be empty).
  const std::function<bool(NodeId)>* is_cluster_node = nullptr;
};

// OK, or INVALID_ARGUMENT (the message contradicts itself or the rules: malformed, forged, or from a broken peer)
// or FAILED_PRECONDITION (well-formed but not acceptable here and now: not a member, wrong role, stale), naming
// the field. On error `*reason` says which counter to bump.
absl::Status ValidateMessage(const Message& m, const ReceiverView& self, DropReason* reason);

}  // namespace brook::raft
