// Property tests of the quorum math against deliberately naive references, over thousands of seeded cases.
#include "raft/quorum.h"

#include <random>

#include "gtest/gtest.h"

namespace brook::raft {
namespace {

// Naive: the largest candidate index that at least a majority of voters have reached.
Index NaiveCommitted(const std::vector<NodeId>& voters, const absl::flat_hash_map<NodeId, Index>& acked) {
  if (voters.empty()) return std::numeric_limits<Index>::max();
  Index best = 0;
  for (NodeId candidate : voters) {
    Index idx = acked.contains(candidate) ? acked.at(candidate) : 0;
    size_t reached = 0;
    for (NodeId v : voters) reached += (acked.contains(v) ? acked.at(v) : 0) >= idx;
    if (reached * 2 > voters.size()) best = std::max(best, idx);
  }
  return best;
}

// Naive: won if granted votes form a majority; lost if even granting every missing vote is not a majority.
VoteResult NaiveVote(const std::vector<NodeId>& voters, const absl::flat_hash_map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  size_t yes = 0, yes_if_missing_granted = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    yes += it != votes.end() && it->second;
    yes_if_missing_granted += it == votes.end() || it->second;
  }
  if (yes * 2 > voters.size()) return VoteResult::kWon;
  if (yes_if_missing_granted * 2 > voters.size()) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::vector<NodeId> RandomVoters(std::mt19937_64& rng, size_t max_n) {
  std::vector<NodeId> ids;
  size_t n = rng() % (max_n + 1);
  for (NodeId id = 1; ids.size() < n; ++id) {
    if (rng() % 2) ids.push_back(id);
  }
  return ids;
}

TEST(QuorumProperty, CommittedIndexMatchesNaiveReference) {
  for (uint64_t seed = 0; seed < 5000; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<NodeId> in = RandomVoters(rng, 7), out = RandomVoters(rng, 7);
    absl::flat_hash_map<NodeId, Index> acked;
    for (NodeId id = 1; id <= 20; ++id) {
      if (rng() % 4) acked[id] = rng() % 10;
    }
    AckedIndex lookup = [&](NodeId id) -> Index { return acked.contains(id) ? acked.at(id) : 0; };
    ASSERT_EQ(MajorityCommittedIndex(in, lookup), NaiveCommitted(in, acked)) << "seed " << seed;
    ASSERT_EQ(JointCommittedIndex(in, out, lookup),
              std::min(NaiveCommitted(in, acked), NaiveCommitted(out, acked)))
        << "seed " << seed;
  }
}

TEST(QuorumProperty, VoteResultMatchesNaiveReference) {
  for (uint64_t seed = 0; seed < 5000; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<NodeId> in = RandomVoters(rng, 7), out = RandomVoters(rng, 7);
    absl::flat_hash_map<NodeId, bool> votes;
    for (NodeId id = 1; id <= 20; ++id) {
      if (rng() % 3) votes[id] = rng() % 2;
    }
    ASSERT_EQ(MajorityVoteResult(in, votes), NaiveVote(in, votes)) << "seed " << seed;
    VoteResult a = NaiveVote(in, votes), b = NaiveVote(out, votes);
    VoteResult joint = (a == VoteResult::kLost || b == VoteResult::kLost) ? VoteResult::kLost
                       : (a == VoteResult::kWon && b == VoteResult::kWon) ? VoteResult::kWon
                                                                          : VoteResult::kPending;
    ASSERT_EQ(JointVoteResult(in, out, votes), joint) << "seed " << seed;
  }
}

TEST(Quorum, CommitOfThreeIsTheMedian) {
  absl::flat_hash_map<NodeId, Index> acked{{1, 5}, {2, 9}, {3, 7}};
  EXPECT_EQ(MajorityCommittedIndex({1, 2, 3}, [&](NodeId id) { return acked[id]; }), 7u);
}

TEST(Quorum, JointNeedsBothHalves) {
  absl::flat_hash_map<NodeId, bool> votes{{1, true}, {2, true}, {4, false}, {5, false}};
  EXPECT_EQ(JointVoteResult({1, 2, 3}, {3, 4, 5}, votes), VoteResult::kLost);
  EXPECT_EQ(JointVoteResult({1, 2, 3}, {}, votes), VoteResult::kWon);
}

}  // namespace
}  // namespace brook::raft
