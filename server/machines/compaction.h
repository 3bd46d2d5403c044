// Key compaction of a partition's log (docs/decisions.md A12, docs/api.md "Compaction"): which records of an
// applied log prefix survive, and what their entries become. Pure: the caller reads the entries from storage,
// writes the rewritten ones back and drops a prefix left without records (server/host/compaction_worker.h); time
// is an input.
//
// One pass over a partition, as Kafka's log cleaner does it:
//   1. Build a KeyMap over the dirty entries, those after the previous pass's end: the latest offset of each
//      key. It stops before the first entry younger than min_compaction_lag_ms, and before the entry that would
//      take the map past its cap on memory; the last entry it took is the pass's end.
//   2. Plan every record batch from the log start to the pass's end (PlanEntry): a record goes when the map holds
//      a later offset of its key (a later record replaces it), or when it is a tombstone that is the latest of its
//      key and older than tombstone_retention_ms (by its batch's append time). Everything else stays, at its
//      offset: the latest record of each key, records without a key, and what lies past the pass's end.
// Offset commits, no-op and configuration entries hold no records and are never rewritten.
//
// Thread-safe (no shared state); allocates the map's keys and each rewritten entry.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/internal/state.pb.h"
#include "raft/types.h"
#include "server/common/limits.h"

namespace brook::server {

// What the KeyMap counts for each key beyond its bytes: its hash-table node and offset.
inline constexpr uint64_t kKeyMapOverheadBytes = 64;

struct CompactionRules {
  int64_t now_ms = 0;                                                      // the pass's clock
  uint64_t tombstone_retention_ms = Limits::kDefaultTombstoneRetentionMs;  // already resolved (never 0)
  uint64_t min_compaction_lag_ms = 0;
  // Cap on the KeyMap of one pass: key bytes plus kKeyMapOverheadBytes per key. The map always takes the first
  // dirty entry, whatever its size, so every pass makes progress.
  uint64_t max_key_bytes = 64ull << 20;
};

// The rules of a topic's config at `now_ms` (tombstone_retention_ms 0 is the default).
CompactionRules RulesFor(uint64_t tombstone_retention_ms, uint64_t min_compaction_lag_ms, int64_t now_ms,
                         uint64_t max_key_bytes);

// The latest offset of each key over the dirty entries of one pass.
class KeyMap {
 public:
  enum class Added { kAdded, kFull, kTooYoung };

  explicit KeyMap(const CompactionRules& rules) : rules_(rules) {}

  // Adds the keys of one entry, whole or not at all. kTooYoung: the entry is younger than the lag; kFull: its
  // keys would take the map past its cap (never for the first entry). Either ends the pass before this entry.
  // Entries without records are kAdded with nothing to add. DataLoss for an entry that does not decode.
  absl::StatusOr<Added> Add(const raft::Entry& entry);
  // The offset of the latest record of `key` added, if any.
  std::optional<uint64_t> Latest(std::string_view key) const;
  uint64_t bytes() const { return bytes_; }
  size_t keys() const { return latest_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  const CompactionRules rules_;
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> latest_;
  uint64_t bytes_ = 0;
  bool took_entry_ = false;
};

// What one entry becomes in a pass.
struct EntryPlan {
  // Records removed by this pass: then `data` is the entry's new data (a compacted batch, EncodeCompactedBatch).
  bool changed = false;
  std::string data;
  uint32_t survivors = 0;  // records left in the entry (0 for an entry without records)
  uint32_t removed = 0;    // records this pass removes
  // The earliest time a kept tombstone of this entry expires (append time + tombstone retention), if it keeps one.
  std::optional<int64_t> tombstone_expiry_ms;
};

// Plans one entry of [log start, pass end] against the pass's map. An entry that is not a record batch keeps its
// data (no change, no survivors). DataLoss for a batch that does not decode, decompress or check.
absl::StatusOr<EntryPlan> PlanEntry(const raft::Entry& entry, const KeyMap& map, const CompactionRules& rules);

// ---- One pass, over any log ------------------------------------------------------------------------------------

// Where a pass reads and writes: storage in brookd (server/host/compaction_worker.h), a vector in the tests.
struct PassLog {
  // Entries [lo, hi) in order, about max_bytes of them (at least one). An error ends the pass (OutOfRange: the
  // log moved under it, e.g. retention dropped its prefix; it is simply retried later).
  std::function<absl::StatusOr<std::vector<raft::Entry>>(raft::Index lo, raft::Index hi, uint64_t max_bytes)> read;
  // Replaces the data of these entries (same index, term, offsets), skipping any that changed meanwhile.
  std::function<absl::Status(std::vector<raft::Entry> rewritten)> rewrite;
};

struct PassInput {
  raft::Index first_index = 1;  // the log start + 1
  raft::Index applied = 0;      // never past it
  raft::Index dirty_from = 1;   // the first entry after the previous pass's end (first_index when none)
  CompactionRules rules;
  uint64_t read_bytes = 4ull << 20;     // per read of the log
  uint64_t rewrite_bytes = 4ull << 20;  // rewritten data handed to PassLog::rewrite at once, about
};

struct PassOutcome {
  // The last entry the key map covered: every entry up to it was planned. dirty_from - 1 when the map took none.
  raft::Index end = 0;
  raft::Offset end_offset = 0;  // the end offset of `end` (0 when the pass planned nothing)
  // Entries [first_index, droppable] hold no surviving record (removed records, offset commits, no-ops,
  // configuration): the replica may drop them like retention does. first_index - 1 when none.
  raft::Index droppable = 0;
  bool stopped_by_lag = false;  // the map stopped before an entry younger than min_compaction_lag_ms
  bool stopped_by_cap = false;  // ... before an entry that would pass max_key_bytes
  // When waiting alone could let a next pass remove more: the earliest expiry of a kept tombstone, or the time the
  // entry that stopped the pass for its lag is old enough.
  std::optional<int64_t> next_due_ms;
  uint64_t records_removed = 0;  // by this pass
  uint64_t records_kept = 0;     // records left in [first_index, end]
  uint64_t keys = 0;             // keys of the map
  uint64_t key_bytes = 0;        // what the map counted against max_key_bytes
  uint64_t entries_rewritten = 0;
  uint64_t bytes_before = 0;  // entry data of the rewritten entries, before and after
  uint64_t bytes_after = 0;
};

// Runs one pass: the map over [dirty_from, applied], then the plan and the rewrites over [first_index, end].
// Reads the planned range twice at most (map, plan) in chunks of read_bytes; holds the map and one chunk of
// rewritten entries. An error of `log` or a DataLoss of an entry ends the pass with that status.
absl::StatusOr<PassOutcome> RunPass(const PassInput& in, const PassLog& log);

}  // namespace brook::server
