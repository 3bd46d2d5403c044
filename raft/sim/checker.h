// The safety checker of the simulator: Raft's guarantees (paper figure 3) checked after every step, from what the
// nodes hand their hosts. Any violation is reported as an INTERNAL status naming the nodes, indexes and terms.
//
//   Election safety     at most one leader per term.
//   Log matching        two logs with an entry of the same index and term hold the same entry there and agree
//                       on the term before it (by induction: identical prefixes). Checked on every entry any
//                       node is asked to persist, against the first copy seen of (index, term).
//   Offsets             an entry's base_offset is the end offset of the entry before it (same in every log).
//   Leader completeness a new leader holds every entry applied anywhere (applied implies committed).
//   State machine safety no two nodes apply different entries at one index.
//   Monotonic commit    a node's commit and applied indexes never go back (per incarnation).
#pragma once

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "raft/raft.h"

namespace brook::raft::sim {

class Checker {
 public:
  // rd was just produced by `node` (before it is persisted).
  absl::Status OnReady(const RaftNode& node, const Ready& rd);
  // `node` applied e (in order).
  absl::Status OnApply(NodeId node, const Entry& e);
  // After every step, for every live node.
  absl::Status OnStep(const RaftNode& node);
  // A node restarted: its volatile indexes start over.
  void OnRestart(NodeId node) {
    last_commit_.erase(node);
    last_applied_.erase(node);
  }

  // The entry applied at `index` by anyone (nullptr if none yet).
  const Entry* Applied(Index index) const {
    auto it = applied_.find(index);
    return it == applied_.end() ? nullptr : &it->second;
  }
  Index max_applied() const { return applied_.empty() ? 0 : applied_.rbegin()->first; }

 private:
  struct Known {
    Entry entry;  // data kept for comparison
    Term prev_term;
  };
  absl::flat_hash_map<std::pair<Index, Term>, Known> canonical_;
  std::map<Index, Entry> applied_;
  absl::flat_hash_map<Term, NodeId> leader_of_term_;
  absl::flat_hash_map<NodeId, Index> last_commit_;
  absl::flat_hash_map<NodeId, Index> last_applied_;
};

}  // namespace brook::raft::sim
