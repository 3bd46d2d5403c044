#include "storage/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/statistics.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "storage/compactor.h"

namespace brook::storage {
namespace {

// Whether files in `dir` can be written with O_DIRECT: writes one 4 KiB-aligned block to a scratch file (removed
// again). File systems without O_DIRECT refuse the open or the write (EINVAL). `create`: make `dir` first if it
// is missing (as Open will, with create_if_missing).
bool DirectWritesWork(const std::string& dir, bool create) {
  std::error_code ec;
  if (create) std::filesystem::create_directories(dir, ec);
  if (ec) return false;
  const std::string path = dir + "/.direct-io-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  constexpr size_t kBlock = 4096;
  void* buf = nullptr;
  bool ok = posix_memalign(&buf, kBlock, kBlock) == 0;
  if (ok) {
    std::memset(buf, 0, kBlock);
    ok = ::pwrite(fd, buf, kBlock, 0) == static_cast<ssize_t>(kBlock);
  }
  std::free(buf);
  ::close(fd);
  ::unlink(path.c_str());
  return ok;
}

constexpr char kLogCf[] = "log";
constexpr char kStateCf[] = "state";
constexpr char kIndexCf[] = "index";

absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(std::string(context), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

rocksdb::CompressionType ToRocks(Compression c) {
  switch (c) {
    case Compression::kNone:
      return rocksdb::kNoCompression;
    case Compression::kLz4:
      return rocksdb::kLZ4Compression;
    case Compression::kZstd:
      return rocksdb::kZSTD;
  }
  return rocksdb::kLZ4Compression;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Decodes the sealed value at `key` of a small record, or its default when absent.
template <typename T, typename Decode>
absl::StatusOr<T> GetSealed(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, raft::GroupId group,
                            std::string_view what, const std::string& key, Decode decode) {
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db->Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) return T{};
  if (!s.ok()) return FromRocks(s, absl::StrCat("group ", group, ": reading ", std::string(what)));
  absl::StatusOr<std::string_view> payload = codec::Unseal(key, ToView(value));
  if (!payload.ok()) return CorruptionError(group, std::nullopt, what, key, payload.status());
  absl::StatusOr<T> decoded = decode(*payload);
  if (!decoded.ok()) return CorruptionError(group, std::nullopt, what, key, decoded.status());
  return decoded;
}

std::optional<raft::Index> LogKeyIndex(std::string_view key) {
  raft::GroupId group;
  raft::Index index;
  if (!codec::ParseLogKey(key, &group, &index)) return std::nullopt;
  return index;
}

// The log CF's memtable keeps an insert hint per group (memtable_insert_with_hint_prefix_extractor): an append
// lands next to the group's previous append instead of searching the whole skiplist. RocksDB 7.8 keeps one hint
// map per memtable and also consults it for range tombstones, which live in a different skiplist; a hint taken
// from one list and used in the other corrupts it (a debug build asserts in InlineSkipList::Insert). So only
// 16-byte keys, the log's point keys, are in the hint's domain, and every range deletion in the log CF starts at a
// key of another length (LogRangeStart).
class LogHintPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "brook.LogHintPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override { return rocksdb::Slice(key.data(), 8); }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() == codec::kLogKeySize; }
};

// A key of 8 or 17 bytes that sorts just before LogKey(group, index): the same range, outside the hint's domain.
std::string LogRangeStart(raft::GroupId group, raft::Index index) {
  if (index == 0) return codec::GroupPrefix(group);
  std::string k = codec::LogKey(group, index - 1);
  k.push_back('\xff');  // LogKey(index - 1) < k < LogKey(index).
  return k;
}

}  // namespace

absl::Status CorruptionError(raft::GroupId group, std::optional<raft::Index> index, std::string_view what,
                             std::string_view key, const absl::Status& cause) {
  std::string where = absl::StrCat("group ", group);
  if (index.has_value()) absl::StrAppend(&where, " index ", *index);
  return absl::DataLossError(
      absl::StrCat(where, ": ", std::string(what), " key ", codec::Hex(key), ": ", cause.message()));
}

LogBounds Store::GroupMeta::bounds() const {
  return LogBounds{.first_index = log_start.index + 1,
                   .last_index = last_index,
                   .last_term = last_term,
                   .log_start_offset = log_start.next_offset,
                   .end_offset = end_offset};
}

Store::Store(std::string dir, Options options) : dir_(std::move(dir)), options_(std::move(options)) {}

Store::~Store() {
  compactor_.reset();
  if (db_ != nullptr && options_.flush_on_close) {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    // Best effort: everything is in the synced WAL already; a failed flush only makes the next Open replay it.
    db_->Flush(fo, {log_cf_, state_cf_, index_cf_, default_cf_}).PermitUncheckedError();
  }
  if (db_ != nullptr) {
    for (auto* cf : {log_cf_, state_cf_, index_cf_}) {
      if (cf != nullptr) db_->DestroyColumnFamilyHandle(cf).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();  // Everything acknowledged is already in the synced WAL.
  }
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir, const Options& options) {
  std::unique_ptr<Store> store(new Store(dir, options));  // The constructor is private: no make_unique.

  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = options.create_if_missing;
  db_opts.create_missing_column_families = true;
  db_opts.max_background_jobs = options.max_background_jobs;
  db_opts.manual_wal_flush = false;  // Each Write reaches the OS before it returns; the sync makes it durable.
  db_opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // The small CFs keep old WAL files alive until they flush; bound the WAL so they flush instead.
  db_opts.max_total_wal_size = 4 * options.log_write_buffer_bytes;
  db_opts.bytes_per_sync = 1 << 20;  // Smooth SST writeback so flushes do not burst against WAL syncs.
  db_opts.keep_log_file_num = 4;
  // Write what the WAL replay recovered out to L0 files during Open, so that the replayed WAL files become
  // obsolete at once. Keeping them (avoid_flush_during_recovery = true) loses acknowledged data: after a power
  // failure leaves a torn record at the end of a WAL, the next Open stops there (point-in-time recovery) and,
  // while that WAL is kept, every later Open stops there too and drops every later, synced WAL. The
  // fault-injection suite's power_fail_all with torn writes found this (docs/fault-injection.md).
  db_opts.avoid_flush_during_recovery = !options.flush_recovered;
  // Options::direct_io_for_flush: SST files skip the page cache where the file system allows it.
  store->direct_io_for_flush_ = options.direct_io_for_flush && DirectWritesWork(dir, options.create_if_missing);
  db_opts.use_direct_io_for_flush_and_compaction = store->direct_io_for_flush_;
  db_opts.statistics = rocksdb::CreateDBStatistics();
  db_opts.statistics->set_stats_level(rocksdb::StatsLevel::kExceptTimeForMutex);
  store->statistics_ = db_opts.statistics;

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  rocksdb::ColumnFamilyOptions log_opts;
  {
    log_opts.write_buffer_size = options.log_write_buffer_bytes;
    log_opts.max_write_buffer_number = options.log_max_write_buffers;
    log_opts.compression = ToRocks(options.log_compression);
    log_opts.level_compaction_dynamic_level_bytes = true;
    log_opts.target_file_size_base = 64 << 20;
    log_opts.max_bytes_for_level_base = 4 * options.log_write_buffer_bytes;
    // Each group appends in key order: remember per group prefix where its last insert landed in the memtable
    // skiplist, so an insert is O(1) instead of a full O(log n) search with cache misses (~250 bytes per group).
    // Only in the log CF, whose range deletions keep out of the hint's domain (see LogHintPrefix).
    log_opts.memtable_insert_with_hint_prefix_extractor = std::make_shared<LogHintPrefix>();
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.block_size = 32 << 10;  // Reads are sequential runs of entries: bigger blocks, smaller index.
    // A flush written with O_DIRECT leaves nothing in the page cache: put its blocks in the block cache as it
    // writes them, so a consumer a little behind reads recent data from memory, as it did from the page cache.
    if (store->direct_io_for_flush_) {
      t.prepopulate_block_cache = rocksdb::BlockBasedTableOptions::PrepopulateBlockCache::kFlushOnly;
    }
    log_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  }
  rocksdb::ColumnFamilyOptions small_opts;
  {
    small_opts.write_buffer_size = options.state_write_buffer_bytes;
    small_opts.max_write_buffer_number = 4;
    small_opts.compression = rocksdb::kLZ4Compression;
    small_opts.level_compaction_dynamic_level_bytes = true;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));  // Point reads: hard state, producer table.
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    small_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, small_opts},
      {kLogCf, log_opts},
      {kStateCf, small_opts},
      {kIndexCf, small_opts},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  rocksdb::Status s = rocksdb::DB::Open(db_opts, dir, cfs, &handles, &raw);
  const auto t1 = std::chrono::steady_clock::now();
  if (!s.ok()) return FromRocks(s, absl::StrCat("opening RocksDB at ", dir));
  store->db_.reset(raw);
  store->default_cf_ = handles[0];
  store->log_cf_ = handles[1];
  store->state_cf_ = handles[2];
  store->index_cf_ = handles[3];
  // The default CF handle is owned by the DB; the others are destroyed in ~Store.
  store->db_->DestroyColumnFamilyHandle(handles[0]).PermitUncheckedError();
  store->default_cf_ = store->db_->DefaultColumnFamily();

  if (absl::Status st = store->RebuildCache(); !st.ok()) return st;
  const auto micros = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  store->open_rocksdb_micros_ = micros(t1 - t0);
  store->open_cache_micros_ = micros(std::chrono::steady_clock::now() - t1);
  store->compactor_ = std::make_unique<BackgroundCompactor>(store->db_.get());
  return store;
}

// Every group has a log start key in the state CF, written with its first write. For each one: read the log
// start, then the first and last log keys (two seeks) to restore the cached bounds.
absl::Status Store::RebuildCache() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, state_cf_));
  absl::flat_hash_map<raft::GroupId, GroupMeta> groups;
  for (it->SeekToFirst(); it->Valid();) {
    raft::GroupId group;
    char tag;
    if (!codec::ParseStateKey(ToView(it->key()), &group, &tag)) {
      return CorruptionError(0, std::nullopt, "state CF", ToView(it->key()),
                             absl::DataLossError("key shorter than a group prefix"));
    }
    absl::StatusOr<GroupMeta> meta = LoadGroup(group);
    if (!meta.ok()) return meta.status();
    groups.emplace(group, *std::move(meta));
    const std::string next = codec::PrefixEnd(codec::GroupPrefix(group));
    if (next.empty()) break;
    it->Seek(next);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scanning groups");
  std::unique_lock lock(meta_mu_);
  groups_ = std::move(groups);
  return absl::OkStatus();
}

absl::StatusOr<Store::GroupMeta> Store::LoadGroup(raft::GroupId group) {
  const std::string start_key = codec::StateKey(group, codec::kLogStartTag);
  GroupMeta m;
  {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), state_cf_, start_key, &value);
    if (s.IsNotFound()) {
      return CorruptionError(group, std::nullopt, "log start", start_key,
                             absl::DataLossError("the group has state keys but no log start record"));
    }
    if (!s.ok()) return FromRocks(s, absl::StrCat("group ", group, ": reading log start"));
    absl::StatusOr<std::string_view> payload = codec::Unseal(start_key, value);
    if (!payload.ok()) return CorruptionError(group, std::nullopt, "log start", start_key, payload.status());
    absl::StatusOr<raft::SnapshotMeta> start = codec::DecodeSnapshotMeta(*payload);
    if (!start.ok()) return CorruptionError(group, std::nullopt, "log start", start_key, start.status());
    m.log_start = *std::move(start);
  }
  m.last_index = m.log_start.index;
  m.last_term = m.log_start.term;
  m.end_offset = m.log_start.next_offset;

  const std::string lower = codec::GroupPrefix(group);
  const std::string upper = codec::PrefixEnd(lower);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.iterate_upper_bound = upper.empty() ? nullptr : &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_cf_));
  if (upper.empty()) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(codec::LogKey(group, UINT64_MAX));
  }
  if (it->Valid() && ToView(it->key()).starts_with(lower)) {
    absl::StatusOr<codec::StoredEntry> last = codec::DecodeEntry(ToView(it->key()), ToView(it->value()), false);
    if (!last.ok())
      return CorruptionError(group, std::nullopt, "last log entry", ToView(it->key()), last.status());
    const raft::Index last_index = last->entry.index;
    it->Seek(codec::LogKey(group, 0));
    raft::GroupId g;
    raft::Index first_index = 0;
    if (!it->Valid() || !codec::ParseLogKey(ToView(it->key()), &g, &first_index) ||
        first_index != m.log_start.index + 1 || last_index < first_index) {
      return CorruptionError(group, first_index, "first log entry", it->Valid() ? ToView(it->key()) : "",
                             absl::DataLossError(absl::StrCat("log should start at ", m.log_start.index + 1,
                                                              " and end at ", last_index)));
    }
    m.last_index = last_index;
    m.last_term = last->entry.term;
    m.end_offset = last->entry.end_offset();
    m.last_timestamp_ms = last->timestamp_ms;
    m.last_cum_bytes = last->cum_bytes;
  }
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("group ", group, ": reading log bounds"));
  return m;
}

std::optional<Store::GroupMeta> Store::FindMeta(raft::GroupId group) const {
  std::shared_lock lock(meta_mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second;
}

LogBounds Store::BoundsLocked(raft::GroupId group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? LogBounds{} : it->second.bounds();
}

LogBounds Store::Bounds(raft::GroupId group) const {
  std::shared_lock lock(meta_mu_);
  return BoundsLocked(group);
}
raft::Index Store::FirstIndex(raft::GroupId group) const { return Bounds(group).first_index; }
raft::Index Store::LastIndex(raft::GroupId group) const { return Bounds(group).last_index; }

absl::Status Store::Commit(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync && options_.sync;
  const rocksdb::Status s = db_->Write(wo, batch);
  if (!s.ok()) return FromRocks(s, "writing batch");
  writes_.fetch_add(1, std::memory_order_relaxed);
  if (wo.sync) synced_writes_.fetch_add(1, std::memory_order_relaxed);
  write_batch_bytes_.fetch_add(batch->GetDataSize(), std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<codec::StoredEntry> Store::ReadEntry(raft::GroupId group, raft::Index index, bool with_data) const {
  const std::string key = codec::LogKey(group, index);
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), log_cf_, key, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("group ", group, " index ", index, ": no log entry"));
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("group ", group, " index ", index, ": reading log entry"));
  absl::StatusOr<codec::StoredEntry> e = codec::DecodeEntry(key, ToView(value), with_data);
  if (!e.ok()) return CorruptionError(group, index, "log entry", key, e.status());
  return e;
}

absl::Status Store::Write(std::span<const GroupWrite> writes, bool sync) {
  if (writes.empty()) return absl::OkStatus();
  std::lock_guard write_lock(write_mu_);
  // Reserve the batch's buffer once: growing a 256 KiB batch by doubling copies it and faults in fresh pages.
  size_t estimate = 64;
  for (const GroupWrite& w : writes) {
    for (const raft::Entry& e : w.entries) estimate += e.data.size() + codec::kEntryHeaderSize + 64;
    estimate += 128;
  }
  rocksdb::WriteBatch batch(estimate);
  // The new meta of every group this call touches, published once the batch is durable. A group may appear in
  // several parts of the call: each part starts from the meta the previous part left here.
  absl::flat_hash_map<raft::GroupId, GroupMeta> pending;
  pending.reserve(writes.size());
  // Entries appended by earlier parts of this call (only for groups that appear more than once), so that a later
  // part truncating them reads what the batch holds rather than the database.
  absl::flat_hash_map<raft::GroupId, int> parts;
  if (writes.size() > 1) {
    for (const GroupWrite& w : writes) ++parts[w.group];
  }
  absl::flat_hash_map<std::pair<raft::GroupId, raft::Index>, codec::StoredEntry> in_batch;
  const auto lookup = [&](raft::GroupId g, raft::Index index) -> absl::StatusOr<codec::StoredEntry> {
    if (auto it = in_batch.find({g, index}); it != in_batch.end()) return it->second;
    return ReadEntry(g, index, false);
  };

  for (const GroupWrite& w : writes) {
    const raft::GroupId g = w.group;
    if (g == kMaxGroupId + 1) {
      return absl::InvalidArgumentError("group id 2^64-1 is reserved (its key range would have no end)");
    }
    const bool several_parts = parts.contains(g) && parts[g] > 1;
    std::optional<GroupMeta> existing;
    if (auto it = pending.find(g); it != pending.end()) {
      existing = it->second;
    } else {
      existing = FindMeta(g);
    }
    GroupMeta m = existing.value_or(GroupMeta{});
    bool put_log_start = !existing.has_value();

    if (w.snapshot.has_value()) {
      const std::string prefix = codec::GroupPrefix(g);
      const std::string end = codec::PrefixEnd(prefix);
      batch.DeleteRange(log_cf_, prefix, end);
      batch.DeleteRange(index_cf_, prefix, end);
      m = GroupMeta{};
      m.log_start = *w.snapshot;
      m.last_index = w.snapshot->index;
      m.last_term = w.snapshot->term;
      m.end_offset = w.snapshot->next_offset;
      put_log_start = true;
    }

    if (!w.entries.empty()) {
      const raft::Entry& front = w.entries.front();
      if (front.index <= m.log_start.index || front.index > m.last_index + 1) {
        return absl::InvalidArgumentError(absl::StrCat("group ", g, ": entries start at index ", front.index,
                                                       " but may only start in [", m.log_start.index + 1, ", ",
                                                       m.last_index + 1, "]"));
      }
      for (size_t i = 1; i < w.entries.size(); ++i) {
        const raft::Entry& prev = w.entries[i - 1];
        const raft::Entry& e = w.entries[i];
        if (e.index != prev.index + 1 || e.base_offset != prev.end_offset()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "group ", g, ": entry ", e.index, " (base offset ", e.base_offset, ") does not follow entry ",
              prev.index, " (end offset ", prev.end_offset(), "): indexes and offsets must be consecutive"));
        }
      }
      for (const raft::Entry& e : w.entries) {
        if (e.record_count > 0 && e.type != raft::EntryType::kNormal) {
          return absl::InvalidArgumentError(
              absl::StrCat("group ", g, ": entry ", e.index, " has records but is not a normal entry"));
        }
      }
      if (front.index <= m.last_index) {
        // Conflicting suffix: drop [front.index, last] from the log and its index keys. The old entry at
        // front.index tells where its offsets and its time key began.
        absl::StatusOr<codec::StoredEntry> old = lookup(g, front.index);
        if (!old.ok()) return old.status();
        if (old->entry.base_offset != front.base_offset) {
          return absl::InvalidArgumentError(absl::StrCat("group ", g, ": entry ", front.index, " has base offset ",
                                                         front.base_offset, " but the log has ",
                                                         old->entry.base_offset, " there"));
        }
        const std::string group_end = codec::PrefixEnd(codec::GroupPrefix(g));
        batch.DeleteRange(log_cf_, LogRangeStart(g, front.index), group_end);
        batch.DeleteRange(index_cf_, codec::OffsetKey(g, front.base_offset),
                          codec::PrefixEnd(codec::OffsetKeyPrefix(g)));
        batch.DeleteRange(index_cf_, codec::TimeKey(g, old->timestamp_ms, front.index),
                          codec::PrefixEnd(codec::TimeKeyPrefix(g)));
        const raft::Index prev = front.index - 1;
        m.last_index = prev;
        m.end_offset = front.base_offset;
        m.bytes_since_offset_key = UINT64_MAX;
        if (prev == m.log_start.index) {
          m.last_term = m.log_start.term;
          m.last_timestamp_ms = INT64_MIN;
          m.last_cum_bytes = 0;
        } else {
          absl::StatusOr<codec::StoredEntry> before = lookup(g, prev);
          if (!before.ok()) return before.status();
          m.last_term = before->entry.term;
          m.last_timestamp_ms = before->timestamp_ms;
          m.last_cum_bytes = before->cum_bytes;
        }
      } else if (front.base_offset != m.end_offset) {
        return absl::InvalidArgumentError(absl::StrCat("group ", g, ": entry ", front.index, " has base offset ",
                                                       front.base_offset, " but the log's end offset is ",
                                                       m.end_offset));
      }

      for (const raft::Entry& e : w.entries) {
        int64_t ts = m.last_timestamp_ms;
        if (options_.entry_timestamp_ms && e.record_count > 0) {
          ts = std::max(ts, options_.entry_timestamp_ms(e));
        }
        const uint64_t value_size = codec::EntryValueSize(e);
        const uint64_t cum = m.last_cum_bytes + value_size;
        char key[codec::kLogKeySize];
        codec::EncodeLogKey(g, e.index, key);
        char header[codec::kEntryHeaderSize];
        codec::EncodeEntryHeader(std::string_view(key, sizeof(key)), e, ts, cum, header);
        const rocksdb::Slice key_slice(key, sizeof(key));
        const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, sizeof(header)),
                                               rocksdb::Slice(e.data.data(), e.data.size())};
        batch.Put(log_cf_, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
        if (e.record_count > 0 && m.bytes_since_offset_key >= options_.index_interval_bytes) {
          m.bytes_since_offset_key = 0;
          const std::string okey = codec::OffsetKey(g, e.base_offset);
          batch.Put(index_cf_, okey,
                    codec::Seal(
                        okey, codec::EncodeOffsetIndexValue({.index = e.index, .record_count = e.record_count})));
        }
        if (ts > m.last_timestamp_ms) {  // The first entry of each distinct timestamp gets a time key.
          const std::string tkey = codec::TimeKey(g, ts, e.index);
          batch.Put(index_cf_, tkey, codec::Seal(tkey, codec::EncodeTimeIndexValue(e.base_offset)));
        }
        m.last_index = e.index;
        m.last_term = e.term;
        m.end_offset = e.end_offset();
        m.last_timestamp_ms = ts;
        m.last_cum_bytes = cum;
        if (several_parts) {
          codec::StoredEntry info{.entry = e, .timestamp_ms = ts, .cum_bytes = cum, .value_size = value_size};
          info.entry.data = raft::EntryData();
          in_batch[{g, e.index}] = std::move(info);
        }
        if (m.bytes_since_offset_key != UINT64_MAX) m.bytes_since_offset_key += value_size;
      }
    }

    if (put_log_start) {
      const std::string key = codec::StateKey(g, codec::kLogStartTag);
      batch.Put(state_cf_, key, codec::Seal(key, codec::EncodeSnapshotMeta(m.log_start)));
    }
    if (w.hard_state.has_value()) {
      const std::string key = codec::StateKey(g, codec::kHardStateTag);
      batch.Put(state_cf_, key, codec::Seal(key, codec::EncodeHardState(*w.hard_state)));
    }
    if (w.apply_state.has_value()) {
      const std::string key = codec::StateKey(g, codec::kApplyStateTag);
      batch.Put(state_cf_, key, codec::Seal(key, codec::EncodeApplyState(*w.apply_state)));
    }
    for (const std::string& k : w.state_deletes) {
      batch.Delete(state_cf_, codec::StateKey(g, codec::kUserStateTag, k));
    }
    for (const auto& [k, v] : w.state_puts) {
      const std::string key = codec::StateKey(g, codec::kUserStateTag, k);
      batch.Put(state_cf_, key, codec::Seal(key, v));
    }
    pending[g] = std::move(m);
  }

  if (absl::Status s = Commit(&batch, sync); !s.ok()) return s;
  std::unique_lock lock(meta_mu_);
  for (auto& [g, m] : pending) groups_[g] = std::move(m);
  return absl::OkStatus();
}

absl::Status Store::DropPrefix(raft::GroupId group, raft::Index index) {
  std::lock_guard write_lock(write_mu_);
  std::optional<GroupMeta> existing = FindMeta(group);
  if (!existing.has_value()) return absl::NotFoundError(absl::StrCat("group ", group, " is not on this node"));
  GroupMeta m = *std::move(existing);
  index = std::min(index, m.last_index);
  if (index <= m.log_start.index) return absl::OkStatus();  // Nothing to drop.

  absl::StatusOr<codec::StoredEntry> first = ReadEntry(group, m.log_start.index + 1, false);
  if (!first.ok()) return first.status();
  absl::StatusOr<codec::StoredEntry> cut = ReadEntry(group, index, false);
  if (!cut.ok()) return cut.status();
  absl::StatusOr<ApplyState> apply = GetApplyState(group);
  if (!apply.ok()) return apply.status();

  rocksdb::WriteBatch batch;
  const std::string log_end = codec::LogKey(group, index + 1);
  batch.DeleteRange(log_cf_, LogRangeStart(group, 0), log_end);
  batch.DeleteRange(index_cf_, codec::OffsetKeyPrefix(group), codec::OffsetKey(group, cut->entry.end_offset()));
  if (index < m.last_index) {
    // Time keys sort by (timestamp, index). Delete every key below the next entry's, then give the next entry a
    // key of its own: the key of its timestamp may have belonged to a dropped entry.
    absl::StatusOr<codec::StoredEntry> next = ReadEntry(group, index + 1, false);
    if (!next.ok()) return next.status();
    const std::string tkey = codec::TimeKey(group, next->timestamp_ms, index + 1);
    batch.DeleteRange(index_cf_, codec::TimeKeyPrefix(group), tkey);
    if (next->timestamp_ms != INT64_MIN) {
      batch.Put(index_cf_, tkey, codec::Seal(tkey, codec::EncodeTimeIndexValue(next->entry.base_offset)));
    }
  } else {
    batch.DeleteRange(index_cf_, codec::TimeKeyPrefix(group), codec::PrefixEnd(codec::TimeKeyPrefix(group)));
    // Every index key is gone: the next appended entry must get both keys whatever its timestamp.
    m.last_timestamp_ms = INT64_MIN;
    m.bytes_since_offset_key = UINT64_MAX;
  }
  m.log_start = raft::SnapshotMeta{.index = index,
                                   .term = cut->entry.term,
                                   .next_offset = cut->entry.end_offset(),
                                   .conf = apply->applied_index > 0 ? apply->conf : m.log_start.conf};
  const std::string start_key = codec::StateKey(group, codec::kLogStartTag);
  batch.Put(state_cf_, start_key, codec::Seal(start_key, codec::EncodeSnapshotMeta(m.log_start)));
  if (absl::Status s = Commit(&batch, true); !s.ok()) return s;
  {
    std::unique_lock lock(meta_mu_);
    groups_[group] = m;
  }
  const uint64_t before_first = first->cum_bytes - first->value_size;
  MaybeCompact(group, cut->cum_bytes - before_first, log_end, false);
  return absl::OkStatus();
}

void Store::MaybeCompact(raft::GroupId group, uint64_t dropped_bytes, std::string log_end, bool whole_group) {
  if (options_.compact_after_drop_bytes == 0 || dropped_bytes < options_.compact_after_drop_bytes) return;
  compactions_scheduled_.fetch_add(1, std::memory_order_relaxed);
  const std::string prefix = codec::GroupPrefix(group);
  compactor_->Schedule(log_cf_, prefix, std::move(log_end));
  compactor_->Schedule(index_cf_, prefix, codec::PrefixEnd(prefix));
  if (whole_group) compactor_->Schedule(state_cf_, prefix, codec::PrefixEnd(prefix));
}

absl::Status Store::DropGroup(raft::GroupId group) {
  std::lock_guard write_lock(write_mu_);
  std::optional<GroupMeta> existing = FindMeta(group);
  if (!existing.has_value()) return absl::OkStatus();
  const std::string prefix = codec::GroupPrefix(group);
  const std::string end = codec::PrefixEnd(prefix);
  rocksdb::WriteBatch batch;
  for (auto* cf : {log_cf_, index_cf_, state_cf_}) batch.DeleteRange(cf, prefix, end);
  if (absl::Status s = Commit(&batch, true); !s.ok()) return s;
  {
    std::unique_lock lock(meta_mu_);
    groups_.erase(group);
  }
  rewrite_freed_.erase(group);
  MaybeCompact(group, existing->last_cum_bytes, end, true);
  return absl::OkStatus();
}

absl::Status Store::PutNodeMeta(std::string_view key, std::string_view value) {
  std::lock_guard write_lock(write_mu_);
  rocksdb::WriteBatch batch;
  batch.Put(default_cf_, ToSlice(key), codec::Seal(key, value));
  return Commit(&batch, true);
}

absl::StatusOr<std::optional<std::string>> Store::GetNodeMeta(std::string_view key) const {
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), default_cf_, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading node meta");
  absl::StatusOr<std::string_view> payload = codec::Unseal(key, ToView(value));
  if (!payload.ok()) {
    return absl::DataLossError(absl::StrCat("node meta key ", codec::Hex(key), ": ", payload.status().message()));
  }
  return std::optional<std::string>(std::string(*payload));
}

absl::StatusOr<std::vector<raft::Entry>> Store::Entries(raft::GroupId group, raft::Index lo, raft::Index hi,
                                                        uint64_t max_bytes) const {
  if (lo > hi) return absl::InvalidArgumentError(absl::StrCat("group ", group, ": lo ", lo, " > hi ", hi));
  const LogBounds b = Bounds(group);
  if (lo < b.first_index) {
    return absl::OutOfRangeError(
        absl::StrCat("group ", group, ": index ", lo, " is compacted (log starts at ", b.first_index, ")"));
  }
  if (hi > b.last_index + 1) {
    return absl::OutOfRangeError(
        absl::StrCat("group ", group, ": index ", hi - 1, " is beyond the last index ", b.last_index));
  }
  std::vector<raft::Entry> out;
  if (lo == hi) return out;

  const std::string start = codec::LogKey(group, lo);
  const std::string upper = codec::LogKey(group, hi);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, log_cf_));
  uint64_t bytes = 0;
  raft::Index expect = lo;
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    const std::string_view value = ToView(it->value());
    if (!out.empty() && bytes + value.size() > max_bytes) break;
    absl::StatusOr<codec::StoredEntry> e = codec::DecodeEntry(key, value, true);
    if (!e.ok()) return CorruptionError(group, LogKeyIndex(key), "log entry", key, e.status());
    if (e->entry.index != expect) break;  // A gap: judged below.
    bytes += value.size();
    out.push_back(std::move(e->entry));
    ++expect;
  }
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("group ", group, ": reading entries"));
  const bool stopped_by_limit =
      it->Valid() && expect < hi && bytes + it->value().size() > max_bytes && !out.empty();
  if (expect < hi && !stopped_by_limit) {
    // Entries are missing. A concurrent DropPrefix, truncation or snapshot may have removed them after we read
    // the bounds: that is a normal race, reported like the checks above. Otherwise the log has a hole.
    const LogBounds now = Bounds(group);
    if (lo < now.first_index || now.last_index < expect || now.last_index != b.last_index) {
      return absl::OutOfRangeError(
          absl::StrCat("group ", group, ": entries [", lo, ", ", hi, ") changed while being read; retry"));
    }
    return CorruptionError(group, expect, "log entry", codec::LogKey(group, expect),
                           absl::DataLossError("missing inside the log's bounds"));
  }
  return out;
}

absl::StatusOr<raft::Term> Store::Term(raft::GroupId group, raft::Index index) const {
  std::optional<GroupMeta> m = FindMeta(group);
  const raft::Index start = m ? m->log_start.index : 0;
  const raft::Index last = m ? m->last_index : 0;
  if (index == start) return m ? m->log_start.term : 0;
  if (index < start) {
    return absl::OutOfRangeError(
        absl::StrCat("group ", group, ": index ", index, " is compacted (log starts after ", start, ")"));
  }
  if (index > last) {
    return absl::OutOfRangeError(
        absl::StrCat("group ", group, ": index ", index, " is beyond the last index ", last));
  }
  if (index == last) return m->last_term;
  absl::StatusOr<codec::StoredEntry> e = ReadEntry(group, index, false);
  if (!e.ok()) {
    if (absl::IsNotFound(e.status()) && FirstIndex(group) > index) {
      return absl::OutOfRangeError(absl::StrCat("group ", group, ": index ", index, " is compacted"));
    }
    return e.status();
  }
  return e->entry.term;
}

absl::StatusOr<raft::HardState> Store::GetHardState(raft::GroupId group) const {
  return GetSealed<raft::HardState>(db_.get(), state_cf_, group, "hard state",
                                    codec::StateKey(group, codec::kHardStateTag), codec::DecodeHardState);
}

absl::StatusOr<ApplyState> Store::GetApplyState(raft::GroupId group) const {
  return GetSealed<ApplyState>(db_.get(), state_cf_, group, "apply state",
                               codec::StateKey(group, codec::kApplyStateTag), codec::DecodeApplyState);
}

raft::SnapshotMeta Store::GetSnapshotMeta(raft::GroupId group) const {
  std::shared_lock lock(meta_mu_);
  auto it = groups_.find(group);
  return it == groups_.end() ? raft::SnapshotMeta{} : it->second.log_start;
}

absl::StatusOr<std::optional<std::string>> Store::StateGet(raft::GroupId group, std::string_view key) const {
  const std::string k = codec::StateKey(group, codec::kUserStateTag, key);
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), state_cf_, k, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, absl::StrCat("group ", group, ": reading state"));
  absl::StatusOr<std::string_view> payload = codec::Unseal(k, ToView(value));
  if (!payload.ok()) return CorruptionError(group, std::nullopt, "state", k, payload.status());
  return std::optional<std::string>(std::string(*payload));
}

absl::Status Store::StateScan(raft::GroupId group, std::string_view prefix,
                              const std::function<bool(std::string_view, std::string_view)>& fn) const {
  const std::string start = codec::StateKey(group, codec::kUserStateTag, prefix);
  const std::string upper = codec::PrefixEnd(start);  // Never empty: the tag byte is not 0xFF.
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, state_cf_));
  const size_t skip = start.size() - prefix.size();
  for (it->Seek(start); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    absl::StatusOr<std::string_view> payload = codec::Unseal(key, ToView(it->value()));
    if (!payload.ok()) return CorruptionError(group, std::nullopt, "state", key, payload.status());
    if (!fn(key.substr(skip), *payload)) break;
  }
  return FromRocks(it->status(), absl::StrCat("group ", group, ": scanning state"));
}

absl::StatusOr<raft::Index> Store::FindIndexForOffset(raft::GroupId group, raft::Offset offset) const {
  const LogBounds b = Bounds(group);
  if (offset < b.log_start_offset || offset >= b.end_offset) {
    return absl::OutOfRangeError(absl::StrCat("group ", group, ": offset ", offset, " is outside [",
                                              b.log_start_offset, ", ", b.end_offset, ")"));
  }
  const std::string lower = codec::OffsetKeyPrefix(group);
  rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_));
  const std::string target = codec::OffsetKey(group, offset);
  it->SeekForPrev(target);
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("group ", group, ": offset index"));
  raft::Offset base = 0;
  raft::Index scan_from = b.first_index;  // No key at or below the offset: scan from the log start.
  if (it->Valid() && codec::ParseOffsetKey(ToView(it->key()), &base) && ToView(it->key()).starts_with(lower)) {
    absl::StatusOr<std::string_view> payload = codec::Unseal(ToView(it->key()), ToView(it->value()));
    absl::StatusOr<codec::OffsetIndexValue> v = payload.ok()
                                                    ? codec::DecodeOffsetIndexValue(*payload)
                                                    : absl::StatusOr<codec::OffsetIndexValue>(payload.status());
    if (!v.ok()) return CorruptionError(group, std::nullopt, "offset index", ToView(it->key()), v.status());
    if (offset < base + v->record_count) return v->index;
    scan_from = std::max(scan_from, v->index + 1);
  }
  // The index is sparse: walk the log from the indexed entry, about index_interval_bytes at most.
  const std::string log_upper = codec::LogKey(group, b.last_index + 1);
  rocksdb::Slice log_upper_slice(log_upper);
  rocksdb::ReadOptions log_ro;
  log_ro.iterate_upper_bound = &log_upper_slice;
  std::unique_ptr<rocksdb::Iterator> log_it(db_->NewIterator(log_ro, log_cf_));
  for (log_it->Seek(codec::LogKey(group, scan_from)); log_it->Valid(); log_it->Next()) {
    absl::StatusOr<codec::StoredEntry> e =
        codec::DecodeEntry(ToView(log_it->key()), ToView(log_it->value()), false);
    if (!e.ok()) {
      return CorruptionError(group, LogKeyIndex(ToView(log_it->key())), "log entry", ToView(log_it->key()),
                             e.status());
    }
    if (offset < e->entry.base_offset) break;  // Passed it: a hole, judged below.
    if (offset < e->entry.end_offset()) return e->entry.index;
  }
  if (!log_it->status().ok()) return FromRocks(log_it->status(), absl::StrCat("group ", group, ": reading log"));
  // Offsets in [log start, end) are dense, so some entry must hold this one, unless the log just changed.
  const LogBounds now = Bounds(group);
  if (offset < now.log_start_offset || offset >= now.end_offset) {
    return absl::OutOfRangeError(absl::StrCat("group ", group, ": offset ", offset, " left the log; retry"));
  }
  return CorruptionError(group, std::nullopt, "offset index", target,
                         absl::DataLossError(absl::StrCat("no entry holds offset ", offset)));
}

absl::StatusOr<raft::Offset> Store::FindOffsetForTimestamp(raft::GroupId group, int64_t timestamp_ms) const {
  if (!options_.entry_timestamp_ms) {
    return absl::FailedPreconditionError("the store was opened without Options::entry_timestamp_ms");
  }
  const LogBounds b = Bounds(group);
  const std::string prefix = codec::TimeKeyPrefix(group);
  const std::string upper = codec::PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_));
  it->Seek(codec::TimeKey(group, timestamp_ms, 0));
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("group ", group, ": time index"));
  if (!it->Valid()) return b.end_offset;
  absl::StatusOr<std::string_view> payload = codec::Unseal(ToView(it->key()), ToView(it->value()));
  absl::StatusOr<raft::Offset> offset =
      payload.ok() ? codec::DecodeTimeIndexValue(*payload) : absl::StatusOr<raft::Offset>(payload.status());
  if (!offset.ok()) return CorruptionError(group, std::nullopt, "time index", ToView(it->key()), offset.status());
  return std::max(*offset, b.log_start_offset);
}

absl::StatusOr<raft::Index> Store::RetentionCutForSize(raft::GroupId group, uint64_t max_bytes,
                                                       raft::Index limit) const {
  std::optional<GroupMeta> m = FindMeta(group);
  if (!m.has_value() || m->last_index == m->log_start.index) return m ? m->log_start.index : 0;
  const raft::Index start = m->log_start.index;
  // cum(k) = cum_bytes of entry k, increasing in k. Keep the entries after the cut: last_cum - cum(cut) bytes.
  // Find the smallest cut in [start, last] with last_cum - cum(cut) <= max_bytes; cum(start) = cum(first) - size.
  absl::StatusOr<codec::StoredEntry> first = ReadEntry(group, start + 1, false);
  if (!first.ok()) return first.status();
  const uint64_t cum_start = first->cum_bytes - first->value_size;
  raft::Index cut;
  if (m->last_cum_bytes - cum_start <= max_bytes) {
    cut = start;
  } else {
    raft::Index lo = start + 1, hi = m->last_index;  // The answer is in [lo, hi]: cut = last always qualifies.
    while (lo < hi) {
      const raft::Index mid = lo + (hi - lo) / 2;
      absl::StatusOr<codec::StoredEntry> e = ReadEntry(group, mid, false);
      if (!e.ok()) return e.status();
      if (m->last_cum_bytes - e->cum_bytes <= max_bytes) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    cut = lo;
  }
  return std::max(start, std::min(cut, limit));
}

absl::StatusOr<raft::Index> Store::RetentionCutForTime(raft::GroupId group, int64_t min_timestamp_ms,
                                                       raft::Index limit) const {
  if (!options_.entry_timestamp_ms) {
    return absl::FailedPreconditionError("the store was opened without Options::entry_timestamp_ms");
  }
  std::optional<GroupMeta> m = FindMeta(group);
  if (!m.has_value()) return 0;
  const raft::Index start = m->log_start.index;
  const std::string prefix = codec::TimeKeyPrefix(group);
  const std::string upper = codec::PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, index_cf_));
  it->Seek(codec::TimeKey(group, min_timestamp_ms, 0));
  if (!it->status().ok()) return FromRocks(it->status(), absl::StrCat("group ", group, ": time index"));
  raft::Index cut = m->last_index;  // Every entry is older.
  if (it->Valid()) {
    int64_t ts;
    raft::Index index;
    if (!codec::ParseTimeKey(ToView(it->key()), &ts, &index)) {
      return CorruptionError(group, std::nullopt, "time index", ToView(it->key()),
                             absl::DataLossError("malformed time key"));
    }
    cut = index - 1;
  }
  return std::max(start, std::min(cut, limit));
}

std::vector<raft::GroupId> Store::ListGroups() const {
  std::vector<raft::GroupId> out;
  {
    std::shared_lock lock(meta_mu_);
    out.reserve(groups_.size());
    for (const auto& [g, m] : groups_) out.push_back(g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

StoreStats Store::Stats() const {
  StoreStats s;
  s.writes = writes_.load(std::memory_order_relaxed);
  s.synced_writes = synced_writes_.load(std::memory_order_relaxed);
  s.write_batch_bytes = write_batch_bytes_.load(std::memory_order_relaxed);
  s.compactions_scheduled = compactions_scheduled_.load(std::memory_order_relaxed);
  s.open_rocksdb_micros = open_rocksdb_micros_;
  s.open_cache_micros = open_cache_micros_;
  s.direct_io_for_flush = direct_io_for_flush_;
  s.wal_syncs = statistics_->getTickerCount(rocksdb::WAL_FILE_SYNCED);
  s.wal_bytes = statistics_->getTickerCount(rocksdb::WAL_FILE_BYTES);
  s.stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                &s.pending_compaction_bytes);
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &s.live_sst_bytes);
  db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &s.memtable_bytes);
  db_->GetIntProperty(log_cf_, rocksdb::DB::Properties::kBlockCacheUsage, &s.block_cache_bytes);
  std::string l0;
  if (db_->GetProperty(log_cf_, rocksdb::DB::Properties::kNumFilesAtLevelPrefix + "0", &l0)) {
    s.l0_files = std::strtoull(l0.c_str(), nullptr, 10);
  }
  return s;
}

uint64_t Store::ApproximateGroupBytes(raft::GroupId group) const {
  const std::string prefix = codec::GroupPrefix(group);
  const std::string end = codec::PrefixEnd(prefix);
  const rocksdb::Range range(prefix, end);
  rocksdb::SizeApproximationOptions opts;
  opts.include_memtables = true;
  opts.include_files = true;
  uint64_t total = 0;
  for (auto* cf : {log_cf_, index_cf_, state_cf_}) {
    uint64_t size = 0;
    if (db_->GetApproximateSizes(opts, cf, &range, 1, &size).ok()) total += size;
  }
  return total;
}

}  // namespace brook::storage
