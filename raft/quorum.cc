#include "raft/quorum.h"

#include <algorithm>

namespace brook::raft {

Index MajorityCommittedIndex(const std::vector<NodeId>& voters, const AckedIndex& acked) {
  if (voters.empty()) return std::numeric_limits<Index>::max();
  // Small groups (3 or 5 voters) are the common case: sort on the stack.
  Index stack[8];
  std::vector<Index> heap;
  Index* acks = stack;
  if (voters.size() > std::size(stack)) {
    heap.resize(voters.size());
    acks = heap.data();
  }
  for (size_t i = 0; i < voters.size(); ++i) acks[i] = acked(voters[i]);
  std::sort(acks, acks + voters.size());
  // Ascending order: the entry at n - (n/2 + 1) is the highest index that n/2 + 1 voters have reached.
  return acks[voters.size() - (voters.size() / 2 + 1)];
}

Index JointCommittedIndex(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                          const AckedIndex& acked) {
  return std::min(MajorityCommittedIndex(incoming, acked), MajorityCommittedIndex(outgoing, acked));
}

VoteResult MajorityVoteResult(const std::vector<NodeId>& voters, const absl::flat_hash_map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  size_t granted = 0, missing = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    }
  }
  const size_t quorum = voters.size() / 2 + 1;
  if (granted >= quorum) return VoteResult::kWon;
  if (granted + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

VoteResult JointVoteResult(const std::vector<NodeId>& incoming, const std::vector<NodeId>& outgoing,
                           const absl::flat_hash_map<NodeId, bool>& votes) {
  VoteResult a = MajorityVoteResult(incoming, votes);
  VoteResult b = MajorityVoteResult(outgoing, votes);
  if (a == b) return a;
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace brook::raft
