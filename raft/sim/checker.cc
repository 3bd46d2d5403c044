#include "raft/sim/checker.h"

#include "absl/strings/str_cat.h"
#include "raft/message.h"

namespace brook::raft::sim {
namespace {

absl::Status Violation(std::string what) { return absl::InternalError(absl::StrCat("SAFETY VIOLATION: ", what)); }

}  // namespace

absl::Status Checker::OnReady(const RaftNode& node, const Ready& rd) {
  Term prev_term = 0;
  for (size_t k = 0; k < rd.entries.size(); ++k) {
    const Entry& e = rd.entries[k];
    if (k == 0) {
      auto t = node.term_at(e.index - 1);
      if (!t.ok()) continue;  // The entry before is compacted on this node: checked where it was not.
      prev_term = *t;
    }
    auto [it, inserted] = canonical_.try_emplace({e.index, e.term}, Known{e, prev_term});
    if (!inserted) {
      const Known& k0 = it->second;
      if (!(k0.entry == e) || k0.prev_term != prev_term) {
        return Violation(absl::StrCat("log matching: n", node.id(), " persists ", DescribeEntry(e, true),
                                      " after term ", prev_term, " but another log has ",
                                      DescribeEntry(k0.entry, true), " after term ", k0.prev_term));
      }
    }
    auto before = canonical_.find({e.index - 1, prev_term});
    if (before != canonical_.end() && before->second.entry.end_offset() != e.base_offset) {
      return Violation(absl::StrCat("offsets: n", node.id(), " entry ", DescribeEntry(e, true), " follows ",
                                    DescribeEntry(before->second.entry, true)));
    }
    prev_term = e.term;
  }
  return absl::OkStatus();
}

absl::Status Checker::OnApply(NodeId node, const Entry& e) {
  auto [it, inserted] = applied_.try_emplace(e.index, e);
  if (!inserted && !(it->second == e)) {
    return Violation(absl::StrCat("state machine safety: n", node, " applies ", DescribeEntry(e, true),
                                  " but another node applied ", DescribeEntry(it->second, true)));
  }
  return absl::OkStatus();
}

absl::Status Checker::OnStep(const RaftNode& node) {
  if (absl::Status s = node.CheckInvariants(); !s.ok()) return Violation(std::string(s.message()));
  const NodeId id = node.id();
  if (node.role() == Role::kLeader) {
    auto [it, inserted] = leader_of_term_.try_emplace(node.term(), id);
    if (!inserted && it->second != id) {
      return Violation(
          absl::StrCat("election safety: n", it->second, " and n", id, " both lead term ", node.term()));
    }
    if (inserted) {
      // A new leader: it must hold every committed entry.
      for (auto a = applied_.lower_bound(node.first_index()); a != applied_.end(); ++a) {
        auto t = node.term_at(a->first);
        if (!t.ok() || *t != a->second.term) {
          return Violation(absl::StrCat("leader completeness: n", id, " leads term ", node.term(),
                                        " without committed entry ", DescribeEntry(a->second, true)));
        }
      }
    }
  }
  Index& commit = last_commit_[id];
  if (node.commit_index() < commit) {
    return Violation(absl::StrCat("n", id, " commit index went back from ", commit, " to ", node.commit_index()));
  }
  commit = node.commit_index();
  Index& applied = last_applied_[id];
  if (node.applied_index() < applied) {
    return Violation(
        absl::StrCat("n", id, " applied index went back from ", applied, " to ", node.applied_index()));
  }
  applied = node.applied_index();
  return absl::OkStatus();
}

}  // namespace brook::raft::sim
