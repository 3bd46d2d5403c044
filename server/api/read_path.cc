#include "server/api/read_path.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "brook/v1/errors.pb.h"
#include "server/codec/compression.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {

namespace {

// What an answer may still take: at least one record or batch, then up to max_records and max_bytes.
struct Budget {
  uint32_t max_records;
  uint32_t max_bytes;
  uint64_t records = 0;
  uint64_t bytes = 0;
  bool Fits(uint64_t n, uint64_t size) const {
    return records == 0 || (records + n <= max_records && bytes + size <= max_bytes);
  }
  void Take(uint64_t n, uint64_t size) {
    records += n;
    bytes += size;
  }
};

// Where the answer stands while entries are added to it.
struct Cursor {
  uint64_t next;  // the next offset to serve
  uint64_t hwm;
  Budget budget;
  v1::FetchResponse* out;
};

// Reports [start, end) as removed by compaction, merged with the range before it when they touch.
void AddCompactedRange(uint64_t start, uint64_t end, Cursor& c) {
  if (start >= end) return;
  auto& ranges = *c.out->mutable_compacted();
  if (!ranges.empty() && ranges[ranges.size() - 1].end_offset() == start) {
    ranges[ranges.size() - 1].set_end_offset(end);
  } else {
    auto* g = c.out->add_compacted();
    g->set_reason(v1::Gap::COMPACTED);
    g->set_start_offset(start);
    g->set_end_offset(end);
  }
  c.next = end;
}

// Appends the records of one batch from cursor.next on: record i at its offset in `batch` (its deltas when key
// compaction rewrote it) above `base`, and the offsets a compacted batch no longer holds as compacted ranges.
// `records` are the batch's own or its decompressed ones. False when the answer is full.
bool AddRecords(google::protobuf::RepeatedPtrField<v1::Record>* records, const internal::RecordBatch& batch,
                uint64_t base, uint32_t span, int64_t append_time, Cursor& c) {
  for (int i = 0; i < records->size(); ++i) {
    const uint64_t off = batch.compacted() ? RecordOffset(batch, base, i) : base + static_cast<uint64_t>(i);
    if (off < c.next) continue;
    if (off >= c.hwm) return true;
    AddCompactedRange(c.next, off, c);  // a hole only in a compacted batch
    auto& r = *records->Mutable(i);
    const uint64_t size = r.key().size() + r.value().size();
    if (!c.budget.Fits(1, size)) return false;
    auto* sr = c.out->add_records();
    sr->set_offset(off);
    sr->set_timestamp_ms(r.timestamp_ms() != 0 ? r.timestamp_ms() : append_time);
    sr->set_append_time_ms(append_time);
    sr->set_allocated_key(r.release_key());
    sr->set_allocated_value(r.release_value());
    sr->mutable_headers()->Swap(r.mutable_headers());
    sr->set_tombstone(r.tombstone());
    c.budget.Take(1, size);
    c.next = off + 1;
  }
  if (batch.compacted()) AddCompactedRange(c.next, std::min<uint64_t>(base + span, c.hwm), c);
  return true;
}

// Appends a compressed batch whole, as stored. False when the answer is full.
bool AddCompressed(internal::RecordBatch& batch, uint64_t base, int64_t append_time, Cursor& c) {
  const uint64_t size = batch.compressed_records().size();
  if (!c.budget.Fits(batch.record_count(), size)) return false;
  auto* cb = c.out->add_compressed_batches();
  cb->set_base_offset(base);
  cb->set_record_count(batch.record_count());
  cb->set_append_time_ms(append_time);
  cb->set_compression(batch.compression());
  cb->set_allocated_data(batch.release_compressed_records());
  cb->set_crc32c(batch.compressed_crc32c());
  cb->set_uncompressed_bytes(batch.uncompressed_bytes());
  c.budget.Take(batch.record_count(), size);
  c.next = base + batch.record_count();
  return true;
}

// Adds one entry's records to the answer. Sets *full when the answer has no room for them.
grpc::Status AddEntry(const PartitionView& view, const raft::Entry& e, bool accept_compressed, Cursor& c,
                      bool* full) {
  auto batch = DecodeRecordBatch(e.data);
  const bool decompress = batch.ok() && batch->compression() != v1::COMPRESSION_NONE && !accept_compressed;
  absl::StatusOr<v1::RecordList> list = decompress ? DecompressBatch(*batch) : v1::RecordList();
  absl::Status s = !batch.ok() ? batch.status() : list.status();
  if (s.ok()) s = CheckCompactedBatch(*batch, e.record_count);
  if (!s.ok()) {
    return grpc::Status(
        grpc::StatusCode::DATA_LOSS,
        absl::StrCat("partition ", view.topic(), "/", view.partition(), " entry ", e.index, ": ", s.message()));
  }
  const int64_t append_time = EntryAppendTime(e.data);
  if (batch->compression() == v1::COMPRESSION_NONE) {
    *full = !AddRecords(batch->mutable_records(), *batch, e.base_offset, e.record_count, append_time, c);
  } else if (accept_compressed) {
    *full = !AddCompressed(*batch, e.base_offset, append_time, c);
  } else {
    *full = !AddRecords(list->mutable_records(), *batch, e.base_offset, e.record_count, append_time, c);
  }
  return grpc::Status::OK;
}

}  // namespace

bool HasData(const v1::FetchResponse& response) {
  return response.records_size() > 0 || response.compressed_batches_size() > 0 || response.has_gap() ||
         response.compacted_size() > 0;
}

grpc::Status BeyondHighWatermark(const PartitionView& view, uint64_t offset, uint64_t hwm, raft::NodeId self) {
  // Only the serving leader knows everything committed (its view names it only once it applied its barrier).
  if (view.leader() == self) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("offset ", offset, " is past the high watermark ", hwm, " of ", view.topic(),
                                     "/", view.partition(), " on its leader; nothing was ever committed there"));
  }
  // A follower (or a new leader still applying) may be behind: the offset may be committed elsewhere.
  grpc::Status hint = NotLeaderStatus(view.topic(), view.partition(), view.leader(), "", view.term());
  v1::ErrorStatus details;
  details.ParseFromString(hint.error_details());
  if (view.leader() != 0) {
    v1::RetryInfo retry;
    retry.set_retry_delay_ms(50);
    details.add_details()->PackFrom(retry);
  }
  std::string message = absl::StrCat(
      "this replica of ", view.topic(), "/", view.partition(), " has committed up to offset ", hwm, ", not yet ",
      offset, "; it may be behind: retry, or read from the leader (node ", view.leader(), ")");
  details.set_code(grpc::StatusCode::UNAVAILABLE);
  details.set_message(message);
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message, details.SerializeAsString());
}

grpc::Status ReadRecords(const storage::Store& store, const PartitionView& view, const ReadOptions& read,
                         raft::NodeId self, v1::FetchResponse* out) {
  const uint64_t offset = read.offset;
  const uint32_t max_records = read.max_records != 0 ? read.max_records : Limits::kDefaultFetchRecords;
  const uint32_t max_bytes = read.max_bytes != 0 ? read.max_bytes : Limits::kDefaultFetchBytes;
  // Order matters: the host publishes the applied index before the watermark, so the applied index read after
  // the watermark covers every offset below it.
  const uint64_t hwm = view.high_watermark();
  const raft::Index applied = view.applied_index();
  const uint64_t log_start = store.Bounds(view.group()).log_start_offset;
  out->set_high_watermark(hwm);
  out->set_log_start_offset(log_start);
  out->set_served_by(self);
  if (offset > hwm) return BeyondHighWatermark(view, offset, hwm, self);
  auto gap = [&](uint64_t end) {
    auto* g = out->mutable_gap();
    g->set_reason(v1::Gap::TRIMMED);
    g->set_start_offset(offset);
    g->set_end_offset(end);
    out->set_next_offset(end);
    return grpc::Status::OK;
  };
  if (offset < log_start) return gap(log_start);
  out->set_next_offset(offset);
  if (offset == hwm) return grpc::Status::OK;
  auto index = store.FindIndexForOffset(view.group(), offset);
  if (!index.ok()) {
    if (absl::IsOutOfRange(index.status())) {
      return gap(store.Bounds(view.group()).log_start_offset);  // trimmed under us
    }
    return grpc::Status(grpc::StatusCode::DATA_LOSS, std::string(index.status().message()));
  }
  auto entries = store.Entries(view.group(), *index, applied + 1, max_bytes + (64 << 10));
  if (!entries.ok()) {
    if (absl::IsOutOfRange(entries.status())) return gap(store.Bounds(view.group()).log_start_offset);
    return grpc::Status(grpc::StatusCode::DATA_LOSS, std::string(entries.status().message()));
  }
  Cursor c{offset, hwm, Budget{max_records, max_bytes}, out};
  for (const auto& e : *entries) {
    if (e.record_count == 0 || e.end_offset() <= c.next) continue;
    if (e.base_offset >= hwm) break;  // the watermark is an entry boundary
    bool full = false;
    if (auto s = AddEntry(view, e, read.accept_compressed, c, &full); !s.ok()) return s;
    if (full || c.next >= hwm) break;
  }
  out->set_next_offset(c.next);
  return grpc::Status::OK;
}

grpc::Status ListOffsets(const storage::Store& store, const PartitionView& view, const v1::ListOffsetsRequest& req,
                         v1::ListOffsetsResponse* out) {
  const uint64_t hwm = view.high_watermark();
  const uint64_t log_start = store.Bounds(view.group()).log_start_offset;
  out->set_high_watermark(hwm);
  out->set_log_start_offset(log_start);
  switch (req.spec()) {
    case v1::ListOffsetsRequest::EARLIEST:
      out->set_offset(log_start);
      break;
    case v1::ListOffsetsRequest::LATEST:
      out->set_offset(hwm);
      break;
    case v1::ListOffsetsRequest::TIMESTAMP: {
      auto found = store.FindOffsetForTimestamp(view.group(), req.timestamp_ms());
      if (!found.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(found.status().message()));
      // The time index also covers uncommitted entries: never answer past the watermark.
      out->set_offset(std::min<uint64_t>(std::max<uint64_t>(*found, log_start), hwm));
      break;
    }
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec: use EARLIEST, LATEST or TIMESTAMP");
  }
  return grpc::Status::OK;
}

}  // namespace brook::server
