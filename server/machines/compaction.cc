#include "server/machines/compaction.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"

namespace brook::server {
namespace {

// The records of one record-batch entry, decompressed when the batch is compressed, and their offsets.
struct BatchRecords {
  internal::RecordBatch batch;
  v1::RecordList plain;  // the records of a compressed batch
  bool compressed = false;

  google::protobuf::RepeatedPtrField<v1::Record>& records() {
    return compressed ? *plain.mutable_records() : *batch.mutable_records();
  }
  uint64_t Offset(uint64_t base_offset, int i) const {
    return compressed ? base_offset + static_cast<uint64_t>(i) : RecordOffset(batch, base_offset, i);
  }
};

bool IsRecordBatch(const raft::Entry& e) {
  return e.type == raft::EntryType::kNormal && e.record_count > 0 &&
         EntryKindOf(e.data) == EntryKind::kRecordBatch;
}

// Decodes (CRC-checked), checks and decompresses a record-batch entry.
absl::StatusOr<BatchRecords> Decode(const raft::Entry& e) {
  auto batch = DecodeRecordBatch(e.data);
  if (!batch.ok()) return absl::DataLossError(absl::StrCat("entry ", e.index, ": ", batch.status().message()));
  BatchRecords out;
  out.batch = *std::move(batch);
  if (BatchRecordCount(out.batch) != e.record_count) {
    return absl::DataLossError(absl::StrCat("entry ", e.index, " says ", e.record_count, " records but holds ",
                                            BatchRecordCount(out.batch)));
  }
  if (auto s = CheckCompactedBatch(out.batch, e.record_count); !s.ok()) {
    return absl::DataLossError(absl::StrCat("entry ", e.index, ": ", s.message()));
  }
  if (out.batch.compression() != v1::COMPRESSION_NONE) {
    auto list = DecompressBatch(out.batch);
    if (!list.ok()) return absl::DataLossError(absl::StrCat("entry ", e.index, ": ", list.status().message()));
    out.plain = *std::move(list);
    out.compressed = true;
  }
  return out;
}

// append_time + ms without overflow.
int64_t After(int64_t append_time_ms, uint64_t ms) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  if (ms > static_cast<uint64_t>(max) || append_time_ms > max - static_cast<int64_t>(ms)) return max;
  return append_time_ms + static_cast<int64_t>(ms);
}

}  // namespace

CompactionRules RulesFor(uint64_t tombstone_retention_ms, uint64_t min_compaction_lag_ms, int64_t now_ms,
                         uint64_t max_key_bytes) {
  CompactionRules r;
  r.now_ms = now_ms;
  r.tombstone_retention_ms =
      tombstone_retention_ms != 0 ? tombstone_retention_ms : Limits::kDefaultTombstoneRetentionMs;
  r.min_compaction_lag_ms = min_compaction_lag_ms;
  r.max_key_bytes = max_key_bytes;
  return r;
}

absl::StatusOr<KeyMap::Added> KeyMap::Add(const raft::Entry& entry) {
  if (!IsRecordBatch(entry)) return Added::kAdded;
  if (After(EntryAppendTime(entry.data), rules_.min_compaction_lag_ms) > rules_.now_ms) return Added::kTooYoung;
  auto decoded = Decode(entry);
  if (!decoded.ok()) return decoded.status();
  auto& records = decoded->records();
  uint64_t cost = 0;  // over-counts a key that repeats within the entry: the cap is never passed
  for (const auto& r : records) {
    if (!r.key().empty() && !latest_.contains(std::string_view(r.key())))
      cost += r.key().size() + kKeyMapOverheadBytes;
  }
  if (took_entry_ && bytes_ + cost > rules_.max_key_bytes) return Added::kFull;
  for (int i = 0; i < records.size(); ++i) {
    std::string* key = records.Mutable(i)->mutable_key();
    if (key->empty()) continue;
    const uint64_t offset = decoded->Offset(entry.base_offset, i);
    if (auto it = latest_.find(std::string_view(*key)); it != latest_.end()) {
      it->second = offset;  // offsets only grow along the log
    } else {
      bytes_ += key->size() + kKeyMapOverheadBytes;
      latest_.emplace(std::move(*key), offset);
    }
  }
  took_entry_ = took_entry_ || cost > 0;
  return Added::kAdded;
}

std::optional<uint64_t> KeyMap::Latest(std::string_view key) const {
  auto it = latest_.find(key);
  if (it == latest_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<EntryPlan> PlanEntry(const raft::Entry& entry, const KeyMap& map, const CompactionRules& rules) {
  EntryPlan plan;
  if (!IsRecordBatch(entry)) return plan;
  auto decoded = Decode(entry);
  if (!decoded.ok()) return decoded.status();
  const int64_t append_time = EntryAppendTime(entry.data);
  const int64_t tombstone_expiry = After(append_time, rules.tombstone_retention_ms);
  auto& records = decoded->records();
  std::vector<bool> keep(static_cast<size_t>(records.size()), true);
  for (int i = 0; i < records.size(); ++i) {
    const v1::Record& r = records.Get(i);
    if (r.key().empty()) continue;  // a record without a key has nothing to replace it
    const uint64_t offset = decoded->Offset(entry.base_offset, i);
    const std::optional<uint64_t> latest = map.Latest(r.key());
    if (latest.has_value() && *latest > offset) {
      keep[i] = false;  // a later record of its key replaces it
    } else if (r.tombstone() && tombstone_expiry <= rules.now_ms) {
      keep[i] = false;  // the latest of its key, a delete that every reader had its time to see
    } else if (r.tombstone()) {
      plan.tombstone_expiry_ms = std::min(plan.tombstone_expiry_ms.value_or(tombstone_expiry), tombstone_expiry);
    }
  }
  for (bool k : keep) (k ? plan.survivors : plan.removed) += 1;
  if (plan.removed == 0) return plan;

  internal::RecordBatch out;
  out.set_producer_id(decoded->batch.producer_id());
  out.set_sequence(decoded->batch.sequence());
  out.set_producer_epoch(decoded->batch.producer_epoch());
  out.set_compacted(true);
  out.set_record_count(entry.record_count);
  out.set_original_body_crc(OriginalBodyCrc(entry.data, decoded->batch));
  for (int i = 0; i < records.size(); ++i) {
    if (!keep[i]) continue;
    out.add_offset_deltas(static_cast<uint32_t>(decoded->Offset(entry.base_offset, i) - entry.base_offset));
    *out.add_records() = std::move(*records.Mutable(i));
  }
  plan.changed = true;
  plan.data = EncodeCompactedBatch(out, append_time);
  return plan;
}

}  // namespace brook::server

namespace brook::server {
namespace {

// Phase 1 of a pass: the key map over [dirty_from, applied], stopping at the lag or the cap.
absl::Status BuildMap(const PassInput& in, const PassLog& log, KeyMap& map, PassOutcome& out) {
  for (raft::Index lo = in.dirty_from; lo <= in.applied;) {
    auto chunk = log.read(lo, in.applied + 1, in.read_bytes);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return absl::OutOfRangeError(absl::StrCat("no entries at ", lo, "; the log moved"));
    for (const raft::Entry& e : *chunk) {
      auto added = map.Add(e);
      if (!added.ok()) return added.status();
      if (*added == KeyMap::Added::kTooYoung) {
        out.stopped_by_lag = true;
        out.next_due_ms = After(EntryAppendTime(e.data), in.rules.min_compaction_lag_ms);
        return absl::OkStatus();
      }
      if (*added == KeyMap::Added::kFull) {
        out.stopped_by_cap = true;
        return absl::OkStatus();
      }
      out.end = e.index;
    }
    lo = chunk->back().index + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PassOutcome> RunPass(const PassInput& in, const PassLog& log) {
  PassOutcome out;
  out.end = in.dirty_from - 1;
  out.droppable = in.first_index - 1;
  KeyMap map(in.rules);
  if (auto s = BuildMap(in, log, map, out); !s.ok()) return s;
  out.keys = map.keys();
  out.key_bytes = map.bytes();

  // Phase 2: plan [first_index, end] and hand the rewritten entries over in chunks.
  std::vector<raft::Entry> pending;
  uint64_t pending_bytes = 0;
  auto flush = [&]() -> absl::Status {
    if (pending.empty()) return absl::OkStatus();
    auto s = log.rewrite(std::move(pending));
    pending.clear();
    pending_bytes = 0;
    return s;
  };
  bool leading_empty = true;
  for (raft::Index lo = in.first_index; lo <= out.end;) {
    auto chunk = log.read(lo, out.end + 1, in.read_bytes);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return absl::OutOfRangeError(absl::StrCat("no entries at ", lo, "; the log moved"));
    lo = chunk->back().index + 1;
    for (raft::Entry& e : *chunk) {
      auto plan = PlanEntry(e, map, in.rules);
      if (!plan.ok()) return plan.status();
      out.records_removed += plan->removed;
      out.records_kept += plan->survivors;
      out.end_offset = e.end_offset();
      if (plan->tombstone_expiry_ms) {
        out.next_due_ms =
            std::min(out.next_due_ms.value_or(*plan->tombstone_expiry_ms), *plan->tombstone_expiry_ms);
      }
      leading_empty = leading_empty && plan->survivors == 0;
      if (leading_empty) out.droppable = e.index;
      if (!plan->changed) continue;
      ++out.entries_rewritten;
      out.bytes_before += e.data.size();
      out.bytes_after += plan->data.size();
      pending_bytes += plan->data.size();
      e.data = std::move(plan->data);
      pending.push_back(std::move(e));
      if (pending_bytes >= in.rewrite_bytes) {
        if (auto s = flush(); !s.ok()) return s;
      }
    }
  }
  if (auto s = flush(); !s.ok()) return s;
  return out;
}

}  // namespace brook::server
