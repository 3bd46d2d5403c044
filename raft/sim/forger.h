// The simulator's Byzantine input: what a hostile or broken program on the node port sends a node, next to (or
// instead of) the genuine traffic. Each forgery is invalid by construction for the receiver's state at delivery
// (validate_message.h must drop it), so that the simulator can assert that every one is dropped and that nothing
// else changes. Replays of genuine old messages are the exception: Raft must tolerate them and may accept them.
//
// Out of scope, as for the node itself: a well-formed message under a current member's identity
// (validate_message.h explains why no Raft node can refuse that).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "raft/message.h"
#include "raft/raft.h"
#include "raft/sim/rng.h"

namespace brook::raft::sim {

enum class ForgeryKind : uint8_t {
  kStranger,      // From a node id outside the cluster: leader traffic, votes, answers, snapshots.
  kMisaddressed,  // For another node, or "from" the receiver itself.
  kHugeTerm,      // A genuine message with a term past the bounds (up to UINT64_MAX).
  kBadEntries,    // Entry lists truncated, overlong, out of order, 2^40 ahead, with bad terms/types/offsets.
  kUnjustified,   // Commit or acknowledged index beyond what the message or the log can justify.
  kWrongRole,     // A second leader in a term, kTimeoutNow from a non-leader, answers nobody asked for.
  kBadSnapshot,   // Snapshots with broken configurations or points, stale or lacking the receiver.
  kUnknownType,   // A message type byte outside the enum.
  kStrayField,    // A genuine message with a field its type never carries.
};
inline constexpr int kForgeryKinds = 9;
const char* ForgeryKindName(ForgeryKind k);

class Forger {
 public:
  // `cluster` are the ids of the simulated nodes (the hosts' peer list); strangers are picked outside it.
  explicit Forger(std::vector<NodeId> cluster) : cluster_(std::move(cluster)) {}

  // A forgery for `receiver` derived from `genuine` (a message about to be delivered to it).
  Message Forge(ForgeryKind kind, const Message& genuine, const RaftNode& receiver, Rng& rng) const;

  // Genuine messages, kept (the last kReplayWindow) to be delivered again later.
  void Remember(const Message& m);
  std::optional<Message> Replay(Rng& rng) const;

 private:
  static constexpr size_t kReplayWindow = 256;

  NodeId Stranger(Rng& rng) const;
  // A member of the receiver's configuration other than `not_a` and `not_b`, or kNoNode.
  NodeId OtherMember(const RaftNode& r, NodeId not_a, NodeId not_b, Rng& rng) const;
  Message FromStranger(const RaftNode& r, Rng& rng) const;
  Message BadEntries(const Message& g, const RaftNode& r, Rng& rng) const;
  Message Unjustified(const Message& g, const RaftNode& r, Rng& rng) const;
  Message WrongRole(const Message& g, const RaftNode& r, Rng& rng) const;
  Message BadSnapshot(const Message& g, const RaftNode& r, Rng& rng) const;
  Message StrayField(const Message& g, Rng& rng) const;

  std::vector<NodeId> cluster_;
  std::deque<Message> seen_;
};

}  // namespace brook::raft::sim
