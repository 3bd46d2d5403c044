#include "server/api/read_path.h"

#include "absl/strings/str_cat.h"
#include "brook/v1/errors.pb.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {

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

grpc::Status ReadRecords(const storage::Store& store, const PartitionView& view, uint64_t offset,
                         uint32_t max_records, uint32_t max_bytes, raft::NodeId self, v1::FetchResponse* out) {
  if (max_records == 0) max_records = Limits::kDefaultFetchRecords;
  if (max_bytes == 0) max_bytes = Limits::kDefaultFetchBytes;
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
  uint64_t bytes = 0;
  uint64_t next = offset;
  for (const auto& e : *entries) {
    if (e.record_count == 0 || e.end_offset() <= next) continue;
    auto batch = DecodeRecordBatch(e.data);
    if (!batch.ok()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          absl::StrCat("partition ", view.topic(), "/", view.partition(), " entry ", e.index, ": ",
                                       batch.status().message()));
    }
    int64_t append_time = EntryAppendTime(e.data);
    for (int i = 0; i < batch->records_size(); ++i) {
      uint64_t off = e.base_offset + static_cast<uint64_t>(i);
      if (off < next) continue;
      if (off >= hwm) break;
      auto& r = *batch->mutable_records(i);
      uint64_t size = r.key().size() + r.value().size();
      if (out->records_size() > 0 &&
          (static_cast<uint32_t>(out->records_size()) >= max_records || bytes + size > max_bytes)) {
        out->set_next_offset(next);
        return grpc::Status::OK;
      }
      auto* sr = out->add_records();
      sr->set_offset(off);
      sr->set_timestamp_ms(r.timestamp_ms() != 0 ? r.timestamp_ms() : append_time);
      sr->set_append_time_ms(append_time);
      sr->set_allocated_key(r.release_key());
      sr->set_allocated_value(r.release_value());
      sr->mutable_headers()->Swap(r.mutable_headers());
      bytes += size;
      next = off + 1;
    }
    if (next >= hwm) break;
  }
  out->set_next_offset(next);
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
