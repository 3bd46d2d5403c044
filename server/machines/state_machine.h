// The interface every replicated state machine of the node implements: the partition machine (records' offsets,
// idempotent producers, consumer-group offsets) and the metadata machine (topics and their placement). The host
// drives both the same way (server/host/machine_group.h), so the metadata group needs no special case.
//
// A machine is a pure value: no I/O, no clock, no threads. What it decides to persist goes into a StateDelta that
// the host writes in the same storage batch as the applied index. Owned by the host loop thread; not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"

namespace brook::server {

// State-machine writes of one apply step, stored in the group's key space in the same batch as the applied index.
// The host gathers a whole turn (a snapshot and every committed entry of a Ready) into one delta, and storage
// writes its deletes first, then its puts (storage/store.cc): so a key written and then deleted within the delta
// must not stay among the puts. Machines write through Put and Delete, which keep the last word on each key.
struct StateDelta {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  bool empty() const { return puts.empty() && deletes.empty(); }

  // A delete followed by a put is the put (deletes are written first). Costs a hash of the key.
  void Put(std::string key, std::string value) {
    put_keys_.insert(key);
    puts.emplace_back(std::move(key), std::move(value));
  }
  // Drops the puts of `key` made earlier in this delta: a scan of the puts only when there are some.
  void Delete(std::string key) {
    if (put_keys_.erase(key) > 0) std::erase_if(puts, [&](const auto& kv) { return kv.first == key; });
    deletes.push_back(std::move(key));
  }

 private:
  std::unordered_set<std::string> put_keys_;  // the keys of `puts`
};

// The group's persisted state keys and values, in key order, as storage::Store::StateScan returns them.
using StoredState = std::vector<std::pair<std::string, std::string>>;

// A point of the log the state stands for: the last applied entry's index and the offset after it.
struct LogPoint {
  raft::Index index = 0;
  raft::Offset end_offset = 0;
};

// `Result` is what applying one entry tells the proposer (and the host's effects): the typed answer that the
// group's proposal callbacks receive (server/host/proposals.h).
template <typename Result>
class StateMachine {
 public:
  using Applied = Result;
  virtual ~StateMachine() = default;

  // Rebuilds the state from what the group persisted; `applied` is the group's applied point.
  virtual absl::Status Load(const StoredState& state, LogPoint applied) = 0;
  // Applies one committed entry (in index order). What the command itself did wrong goes into the Result; a
  // returned error means the entry is corrupt and the group must stop applying.
  virtual absl::StatusOr<Result> Apply(const raft::Entry& entry, StateDelta* delta) = 0;
  // The whole state as of the applied index, for a follower whose log was trimmed past what it needs.
  virtual std::string Snapshot() const = 0;
  // Replaces the state with a leader's snapshot; `log_start` is the log point the snapshot was installed at.
  virtual absl::Status Restore(std::string_view snapshot, LogPoint log_start, StateDelta* delta) = 0;
};

}  // namespace brook::server
