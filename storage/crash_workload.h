// The deterministic workload of the crash test (crash_test.cc drives it, crash_child.cc runs it).
//
// Batch `id` (1, 2, ...) is one Store::Write touching a few of kGroups groups: each step may overwrite up to
// three trailing entries (a conflicting suffix, with a higher term) and appends new ones. Every entry's term is
// the id of the batch that wrote it and its bytes are a function of (seed, group, index, term), so the expected
// database after batches 1..n can be recomputed from the seed alone. The same Write stores n under the key
// "batch" of group 0's state: whatever survives a crash says which prefix of batches it must hold, exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "storage/store.h"

namespace brook::storage::crash {

inline constexpr raft::GroupId kBatchGroup = 0;  // Holds the "batch" key only.
inline constexpr int kGroups = 8;                // Data groups 1..kGroups.
inline constexpr int kDropEvery = 25;            // After batch id % kDropEvery == 0, a prefix drop runs.

struct Step {
  raft::GroupId group;
  uint32_t overwrite;  // Trailing entries replaced (never more than the log holds beyond the last drop).
  uint32_t append;     // Entries written, overwrite included.
};
std::vector<Step> PlanBatch(uint64_t seed, uint64_t id);

// Bytes of the entry at (group, index) written by batch `term`.
std::string EntryData(uint64_t seed, raft::GroupId group, raft::Index index, raft::Term term);
uint32_t EntryRecords(uint64_t seed, raft::GroupId group, raft::Index index, raft::Term term);

// The expected content of every group after a prefix of batches. Entries are kept from index 1 even when the store
// has dropped them; the check compares the store's [FirstIndex, LastIndex] with the model's tail.
class Model {
 public:
  explicit Model(uint64_t seed) : seed_(seed) {}
  // The writes of batch `id` given the model's state, then the model advanced past it.
  std::vector<GroupWrite> NextBatch(uint64_t id);
  uint64_t batches() const { return batches_; }

  struct Slot {
    raft::Term term;
    raft::Offset base_offset;
    uint32_t records;
  };
  const std::vector<Slot>& log(raft::GroupId g) const { return logs_[g - 1]; }
  uint64_t last_touch(raft::GroupId g) const { return last_touch_[g - 1]; }
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  uint64_t batches_ = 0;
  std::vector<Slot> logs_[kGroups];  // logs_[g-1][i-1] is entry i of group g.
  uint64_t last_touch_[kGroups] = {};
};

// Checks that `store` holds exactly what `model` says (after model.batches() batches), allowing prefix drops.
absl::Status CheckStore(const Store& store, const Model& model);

// The timestamp function both sides use: entries of batch t have timestamp 10 t.
inline int64_t EntryTimestamp(const raft::Entry& e) { return static_cast<int64_t>(e.term) * 10; }

}  // namespace brook::storage::crash
