// Store::RewriteEntries: key compaction's write (store.h).
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/store.h"

namespace brook::storage {

absl::StatusOr<Store::RewriteResult> Store::RewriteEntries(raft::GroupId group,
                                                           std::span<const raft::Entry> entries) {
  RewriteResult out;
  if (entries.empty()) return out;
  std::lock_guard write_lock(write_mu_);  // no other write moves the log while we check and write
  const std::optional<GroupMeta> meta = FindMeta(group);
  if (!meta.has_value()) {
    out.skipped = entries.size();
    return out;
  }
  rocksdb::WriteBatch batch;
  raft::Index last_rewritten = 0;
  for (const raft::Entry& e : entries) {
    if (e.index <= meta->log_start.index || e.index > meta->last_index || e.index <= last_rewritten) {
      ++out.skipped;  // dropped by retention or a snapshot, or truncated away (or out of order)
      continue;
    }
    absl::StatusOr<codec::StoredEntry> old = ReadEntry(group, e.index, false);
    if (!old.ok()) {
      if (!absl::IsNotFound(old.status())) return old.status();
      ++out.skipped;
      continue;
    }
    const raft::Entry& was = old->entry;
    if (was.term != e.term || was.type != e.type || was.base_offset != e.base_offset ||
        was.record_count != e.record_count) {
      ++out.skipped;  // another entry holds this index now
      continue;
    }
    char key[codec::kLogKeySize];
    codec::EncodeLogKey(group, e.index, key);
    char header[codec::kEntryHeaderSize];
    codec::EncodeEntryHeader(std::string_view(key, sizeof(key)), e, old->timestamp_ms, old->cum_bytes, header);
    const rocksdb::Slice key_slice(key, sizeof(key));
    const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, sizeof(header)),
                                           rocksdb::Slice(e.data.data(), e.data.size())};
    batch.Put(log_cf_, rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
    out.bytes_before += old->value_size;
    out.bytes_after += codec::EntryValueSize(e);
    ++out.rewritten;
    last_rewritten = e.index;
  }
  if (out.rewritten == 0) return out;
  if (absl::Status s = Commit(&batch, /*sync=*/false); !s.ok()) return s;
  uint64_t& freed = rewrite_freed_[group];
  if (out.bytes_before > out.bytes_after) freed += out.bytes_before - out.bytes_after;
  if (options_.compact_after_drop_bytes > 0 && freed >= options_.compact_after_drop_bytes) {
    // Passes rewrite from the log start on: this range holds every rewrite since the last compaction.
    MaybeCompact(group, freed, codec::LogKey(group, last_rewritten + 1), false);
    freed = 0;
  }
  return out;
}

}  // namespace brook::storage
