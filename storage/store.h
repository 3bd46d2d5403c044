// The node's storage: the Raft log, hard state and state-machine keys of every group hosted on the node, plus node
// metadata, in one RocksDB database (docs/decisions.md D2 and D3; layout in storage/README.md and codec.h).
//
// Threads. Mutating calls (Write, DropPrefix, DropGroup, PutNodeMeta) are serialized by an internal lock and are
// meant to come from the node's one writer thread (the host loop); they block on the disk when they sync. Every
// read may be called from any thread at any time: reads use RocksDB's MVCC (an iterator or Get sees one
// consistent version), take no lock that a write holds across I/O, and never wait for a sync.
//
// Integrity. Every stored value carries a CRC-32C over its key and bytes, checked on every read. Corrupt or
// undecodable bytes give absl::DataLossError naming the group, index (where there is one) and key in hex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/types.h"
#include "storage/codec.h"
#include "storage/options.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Statistics;
class WriteBatch;
}  // namespace rocksdb

namespace brook::storage {

class BackgroundCompactor;

// Group ids are [0, kMaxGroupId]: 2^64-1 is reserved so that every group's key range has an end key.
inline constexpr raft::GroupId kMaxGroupId = UINT64_MAX - 1;

// The durable work of one group for one turn of the host loop. Applied in this order: snapshot, entries, hard
// state, apply state, state deletes, state puts. A group may appear in several GroupWrites of one Write call;
// they apply in order, as if written one after the other (but atomically together).
struct GroupWrite {
  raft::GroupId group = 0;
  std::optional<raft::HardState> hard_state = std::nullopt;
  // Appended after the log. If entries.front().index <= LastIndex(group), the log's suffix from that index is
  // dropped first (conflicting suffix truncation), with its offset and time index keys. Indexes must be
  // consecutive, start in (log start, LastIndex + 1], and base offsets must continue the log's offsets.
  std::vector<raft::Entry> entries = {};
  // Install: drop the whole log of the group; the log starts after the snapshot (FirstIndex = index + 1).
  std::optional<raft::SnapshotMeta> snapshot = std::nullopt;
  // Host state machine progress: applied index and ConfState, atomic with the state changes below.
  std::optional<ApplyState> apply_state = std::nullopt;
  // The group's state-machine key space (idempotent-producer table, consumer-group offsets).
  std::vector<std::pair<std::string, std::string>> state_puts = {};
  std::vector<std::string> state_deletes = {};
};

// Cached bounds of a group's log (O(1), no I/O). An unknown group reads as an empty log starting at index 1.
struct LogBounds {
  raft::Index first_index = 1;        // log_start_index + 1; the entry at log_start_index is gone.
  raft::Index last_index = 0;         // first_index - 1 when the log is empty.
  raft::Term last_term = 0;           // Term of last_index (the log start's term when empty).
  raft::Offset log_start_offset = 0;  // base_offset of first_index.
  raft::Offset end_offset = 0;        // Next offset to assign: end_offset() of last_index.
};

// RocksDB and Brook figures worth exporting as metrics. Counters are totals since Open.
struct StoreStats {
  uint64_t writes = 0;                    // Successful mutating calls (Write, DropPrefix, ...).
  uint64_t synced_writes = 0;             // Of which asked RocksDB to sync the WAL.
  uint64_t write_batch_bytes = 0;         // Bytes of WriteBatch handed to RocksDB.
  uint64_t wal_syncs = 0;                 // rocksdb.wal.synced
  uint64_t wal_bytes = 0;                 // rocksdb.wal.bytes
  uint64_t stall_micros = 0;              // rocksdb.stall.micros: time writes waited on flush/compaction debt.
  uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes, all column families.
  uint64_t live_sst_bytes = 0;            // rocksdb.live-sst-files-size
  uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
  uint64_t block_cache_bytes = 0;         // rocksdb.block-cache-usage
  uint64_t l0_files = 0;                  // rocksdb.num-files-at-level0 of the log column family.
  uint64_t compactions_scheduled = 0;     // Range compactions Brook asked for after drops.
  uint64_t open_rocksdb_micros = 0;       // Open: RocksDB recovery (WAL replay) ...
  uint64_t open_cache_micros = 0;         // ... and rebuilding the per-group cache.
  bool direct_io_for_flush = false;       // Flushes and compactions write with O_DIRECT (Options).
};

class Store {
 public:
  // Opens (or creates) the database in `dir` and rebuilds the per-group cache: O(groups) seeks, a few ms for
  // 1,000 groups (storage/README.md has the figure). Blocks on RocksDB's WAL replay.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir, const Options& options);
  ~Store();  // Waits for a background compaction in progress to stop, then closes the database.
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- Writes (the writer thread) ------------------------------------------------------------------------------

  // The node's group commit: all of `writes` in one rocksdb::WriteBatch and one write, synced when `sync` and
  // Options::sync are both true (pass false when only the commit index changed). All or nothing: after a crash
  // either every part of the call is visible or none is. Invalid input (gap in indexes, overwriting at or before
  // the log start, offsets that do not continue, records in a non-normal entry, group 2^64-1) gives
  // InvalidArgumentError and writes nothing. Readers see the new bounds only once the write is durable.
  // Cost: one copy of each entry's data into the batch; reads RocksDB only to truncate a conflicting suffix;
  // blocks for the fdatasync of the WAL when syncing.
  absl::Status Write(std::span<const GroupWrite> writes, bool sync = true);

  // Retention: drops the log of `group` up to and including `index` (clamped to LastIndex; nothing if at or before
  // the log start). The new log start is (index, Term(index), end offset of index, ConfState of the apply state);
  // log, offset and time index keys below it are range-deleted in one synced write. The caller must not drop past
  // its applied index. Large drops are compacted away in the background (Options::compact_after_drop_bytes).
  absl::Status DropPrefix(raft::GroupId group, raft::Index index);

  // Key compaction (server/machines/compaction.h): replaces the data of entries of `group` that still hold the
  // same index, term, type, base offset and record count as the given ones, and skips any other: an entry that
  // retention dropped, that a truncation or a snapshot replaced, or that changed otherwise since it was read (it
  // checks, it does not assume). A rewritten entry keeps its timestamp and its cum_bytes, so the offset and time
  // index keys and the cached bounds stay exactly as they were; cum_bytes then still counts the bytes the log's
  // entries had when appended (size retention counts appended bytes, see codec.h). The entries must be in index
  // order. One write, not synced (a rewrite lost in a crash leaves the entries as they were, which is as correct);
  // once the rewrites of a group have freed Options::compact_after_drop_bytes since its last such compaction, the
  // log from its start to the last rewritten entry is compacted in the background (RocksDB keeps the old versions
  // until then). Cost: one point read per entry and one copy of its data into the batch; takes the write lock.
  struct RewriteResult {
    uint64_t rewritten = 0;
    uint64_t skipped = 0;
    uint64_t bytes_before = 0;  // stored value bytes of the rewritten entries, before and after
    uint64_t bytes_after = 0;
  };
  absl::StatusOr<RewriteResult> RewriteEntries(raft::GroupId group, std::span<const raft::Entry> entries);

  // Removes everything of `group` (log, indexes, hard state, apply state, state machine keys) in one synced
  // write. The group is unknown afterwards. No-op for an unknown group.
  absl::Status DropGroup(raft::GroupId group);

  // Node metadata (node id, cluster id, ...): one synced write.
  absl::Status PutNodeMeta(std::string_view key, std::string_view value);

  // ---- Reads (any thread) --------------------------------------------------------------------------------------

  // Entries [lo, hi) of `group`, stopping before the total stored size would exceed max_bytes but always at
  // least one entry when lo < hi. OutOfRangeError if lo < FirstIndex ("compacted": send a snapshot) or
  // hi > LastIndex + 1. Reads a RocksDB iterator; allocates each entry's data.
  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::GroupId group, raft::Index lo, raft::Index hi,
                                                   uint64_t max_bytes) const;
  // Term of `index`: from the cache for the log start and the last index, else one point read.
  // OutOfRangeError if index < log start or > LastIndex. Term(0) of an empty, never-snapshotted log is 0.
  absl::StatusOr<raft::Term> Term(raft::GroupId group, raft::Index index) const;
  raft::Index FirstIndex(raft::GroupId group) const;  // O(1), cached. 1 for an unknown group.
  raft::Index LastIndex(raft::GroupId group) const;   // O(1), cached. 0 for an unknown group.
  LogBounds Bounds(raft::GroupId group) const;        // O(1), cached: all bounds read at one instant.

  absl::StatusOr<raft::HardState> GetHardState(raft::GroupId group) const;  // HardState{} if none stored.
  raft::SnapshotMeta GetSnapshotMeta(raft::GroupId group) const;        // The log start, cached. {} if unknown.
  absl::StatusOr<ApplyState> GetApplyState(raft::GroupId group) const;  // ApplyState{} if none stored.

  // The group's state machine key space. StateGet gives nullopt for an absent key. StateScan calls fn(key, value)
  // for each key starting with `prefix` in key order until fn returns false; it sees one consistent version.
  absl::StatusOr<std::optional<std::string>> StateGet(raft::GroupId group, std::string_view key) const;
  absl::Status StateScan(raft::GroupId group, std::string_view prefix,
                         const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

  // Index of the entry holding `offset`: one SeekForPrev in the offset index (O(log n) block reads, no scan).
  // OutOfRangeError if offset is below the log start offset or at/after the end offset.
  absl::StatusOr<raft::Index> FindIndexForOffset(raft::GroupId group, raft::Offset offset) const;
  // First offset whose entry's timestamp is >= timestamp_ms: one Seek in the time index. The end offset when every
  // entry is older. FailedPreconditionError without Options::entry_timestamp_ms.
  absl::StatusOr<raft::Offset> FindOffsetForTimestamp(raft::GroupId group, int64_t timestamp_ms) const;

  // Retention helpers: the index to pass to DropPrefix, never beyond `limit` (for example the applied index) and
  // never before the log start (returning the log start index means "drop nothing").
  // Size: keep the newest entries whose stored bytes total at most max_bytes; O(log n) point reads.
  absl::StatusOr<raft::Index> RetentionCutForSize(raft::GroupId group, uint64_t max_bytes,
                                                  raft::Index limit) const;
  // Time: drop every entry whose timestamp is < min_timestamp_ms; one Seek in the time index.
  absl::StatusOr<raft::Index> RetentionCutForTime(raft::GroupId group, int64_t min_timestamp_ms,
                                                  raft::Index limit) const;

  std::vector<raft::GroupId> ListGroups() const;  // Sorted; from the cache.

  absl::StatusOr<std::optional<std::string>> GetNodeMeta(std::string_view key) const;

  // ---- Metrics ---------------------------------------------------------------------------------------------
  StoreStats Stats() const;
  // Bytes the group occupies on disk and in memtables, estimated by RocksDB over its key ranges in every CF.
  uint64_t ApproximateGroupBytes(raft::GroupId group) const;

 private:
  // Cached state of one group. Invariants: log_start.index <= last_index; last_index == log_start.index iff the
  // log is empty; then last_term == log_start.term and end_offset == log_start.next_offset.
  struct GroupMeta {
    raft::SnapshotMeta log_start;
    raft::Index last_index = 0;
    raft::Term last_term = 0;
    raft::Offset end_offset = 0;
    int64_t last_timestamp_ms = INT64_MIN;  // Of last_index; INT64_MIN when unknown (no time key written yet).
    uint64_t last_cum_bytes = 0;            // cum_bytes of last_index (see codec.h); 0 for an empty log.
    // Stored bytes appended since the last offset index key; UINT64_MAX forces a key at the next data entry.
    uint64_t bytes_since_offset_key = UINT64_MAX;
    LogBounds bounds() const;
  };

  Store(std::string dir, Options options);
  absl::Status RebuildCache();
  absl::StatusOr<GroupMeta> LoadGroup(raft::GroupId group);
  std::optional<GroupMeta> FindMeta(raft::GroupId group) const;
  LogBounds BoundsLocked(raft::GroupId group) const ABSL_SHARED_LOCKS_REQUIRED(meta_mu_);
  absl::StatusOr<codec::StoredEntry> ReadEntry(raft::GroupId group, raft::Index index, bool with_data) const;
  absl::Status Commit(rocksdb::WriteBatch* batch, bool sync);
  void MaybeCompact(raft::GroupId group, uint64_t dropped_bytes, std::string log_end, bool whole_group);

  const std::string dir_;
  const Options options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  // Column family handles, owned here and destroyed before db_. Never change after Open.
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* state_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;
  std::unique_ptr<BackgroundCompactor> compactor_;

  // Serializes mutating calls, so that each one reads the database as every earlier one left it.
  std::mutex write_mu_;
  // Bytes RewriteEntries freed per group since the group's rewritten range was last compacted.
  absl::flat_hash_map<raft::GroupId, uint64_t> rewrite_freed_ ABSL_GUARDED_BY(write_mu_);
  // Guards the cache only (never held across I/O). Writers publish a group's new meta after its write is durable,
  // so readers never see a last index the database does not hold yet.
  mutable std::shared_mutex meta_mu_;
  absl::flat_hash_map<raft::GroupId, GroupMeta> groups_ ABSL_GUARDED_BY(meta_mu_);

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> synced_writes_{0};
  std::atomic<uint64_t> write_batch_bytes_{0};
  std::atomic<uint64_t> compactions_scheduled_{0};
  uint64_t open_rocksdb_micros_ = 0;  // Set once by Open.
  uint64_t open_cache_micros_ = 0;
  bool direct_io_for_flush_ = false;  // Set once by Open.
};

// Builds the DataLossError every read reports: "group G index I: <what> key 0x...: <cause>".
absl::Status CorruptionError(raft::GroupId group, std::optional<raft::Index> index, std::string_view what,
                             std::string_view key, const absl::Status& cause);

}  // namespace brook::storage
