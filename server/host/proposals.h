// The proposals of one group that wait for their entries to apply, keyed by Raft index, each answered exactly
// once: with the state machine's typed result when its entry applies, or with an error when another entry took
// its index (a leadership change) or the group fails them all (leadership lost, group closed, node stopping).
// Every such error carries WriteOutcome UNKNOWN: the entry was proposed, so it may have been (or may yet be)
// committed by another leader.
//
// Loop thread only. Cost: one map node per proposed index; completion is O(proposals completed).
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "grpcpp/support/status.h"
#include "raft/raft.h"
#include "server/common/errors.h"

namespace brook::server {

template <typename Result>
class Proposals {
 public:
  // What a proposal learns when its entry applied: the entry, what applying it did, and the group's Raft node
  // (for the durability receipt: which replicas hold the entry).
  struct Committed {
    const raft::Entry& entry;
    const Result& result;
    const raft::RaftNode& raft;
  };
  // `committed` is set exactly when `status` is OK.
  using Callback = std::function<void(const grpc::Status& status, const Committed* committed)>;

  // A proposal at (index, term) waits for its entry.
  void Add(raft::Index index, raft::Term term, Callback done) {
    pending_[index].push_back(Pending{term, std::move(done)});
  }

  // `entry` applied with `result`: answers every proposal at an index up to entry.index. The one whose (index,
  // term) is this entry's succeeds; the others were replaced by another leader's entries and get `replaced`.
  void Complete(const raft::Entry& entry, const Result& result, const raft::RaftNode& raft,
                const grpc::Status& replaced) {
    while (!pending_.empty() && pending_.begin()->first <= entry.index) {
      auto node = pending_.extract(pending_.begin());
      for (auto& p : node.mapped()) {
        if (node.key() == entry.index && p.term == entry.term) {
          Committed c{entry, result, raft};
          p.done(grpc::Status::OK, &c);
        } else {
          p.done(WithOutcome(replaced, WriteOutcome::kUnknown), nullptr);
        }
      }
    }
  }

  // Answers every waiting proposal with `status` (an error).
  void FailAll(const grpc::Status& error) {
    const grpc::Status status = WithOutcome(error, WriteOutcome::kUnknown);
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [index, list] : pending) {
      for (auto& p : list) p.done(status, nullptr);
    }
  }

  bool empty() const { return pending_.empty(); }
  size_t size() const {
    size_t n = 0;
    for (const auto& [index, list] : pending_) n += list.size();
    return n;
  }

 private:
  struct Pending {
    raft::Term term;
    Callback done;
  };
  std::map<raft::Index, std::vector<Pending>> pending_;
};

}  // namespace brook::server
