#include "server/codec/entry_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/codec/compression.h"
#include "server/common/limits.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

void PutLe(std::string& out, size_t pos, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetLe(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + i])) << (8 * i);
  return v;
}

std::string Frame(EntryKind kind, const google::protobuf::MessageLite& body) {
  std::string out(kEntryHeaderBytes, '\0');
  out[0] = static_cast<char>(kind);
  body.AppendToString(&out);
  uint32_t crc = storage::Crc32c(std::string_view(out).substr(kEntryHeaderBytes));
  PutLe(out, 9, crc, 4);
  return out;
}

// The header and body CRC of `data`, and that it is of kind `want`.
absl::Status CheckEntry(std::string_view data, EntryKind want) {
  if (auto s = VerifyEntryData(data); !s.ok()) return s;
  if (EntryKindOf(data) != want) {
    return absl::DataLossError(absl::StrCat("entry kind is ", static_cast<int>(EntryKindOf(data)), ", expected ",
                                            static_cast<int>(want)));
  }
  return absl::OkStatus();
}

template <typename Message>
absl::StatusOr<Message> Decode(std::string_view data, EntryKind want) {
  if (auto s = CheckEntry(data, want); !s.ok()) return s;
  Message m;
  if (!m.ParseFromArray(data.data() + kEntryHeaderBytes, static_cast<int>(data.size() - kEntryHeaderBytes))) {
    return absl::DataLossError("entry body does not parse");
  }
  return m;
}

}  // namespace

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::string EncodeRecordBatch(const v1::ProduceRequest& req, uint32_t uncompressed_bytes) {
  // Writes the RecordBatch wire format (records = 1, producer_id = 2, sequence = 3, the compressed form 4 to 8)
  // straight from the request, without first copying it into a RecordBatch message: one pass over the bytes.
  size_t body = 24 + 32 + req.compressed_records().size();
  for (const auto& r : req.records()) body += r.ByteSizeLong() + 6;
  std::string out(kEntryHeaderBytes, '\0');
  out.reserve(kEntryHeaderBytes + body);
  out[0] = static_cast<char>(EntryKind::kRecordBatch);
  for (const auto& r : req.records()) {
    const size_t n = r.GetCachedSize();
    out.push_back(0x0A);  // field 1, length-delimited
    AppendVarint(out, n);
    const size_t pos = out.size();
    out.resize(pos + n);
    r.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + pos));
  }
  if (req.producer_id() != 0) {
    out.push_back(0x10);  // field 2, varint
    AppendVarint(out, req.producer_id());
  }
  if (req.sequence() != 0) {
    out.push_back(0x18);  // field 3, varint
    AppendVarint(out, req.sequence());
  }
  if (req.compression() != v1::COMPRESSION_NONE) {
    out.push_back(0x20);  // field 4, varint
    AppendVarint(out, static_cast<uint64_t>(req.compression()));
    out.push_back(0x2A);  // field 5, length-delimited
    AppendVarint(out, req.compressed_records().size());
    out.append(req.compressed_records());
    out.push_back(0x30);  // field 6, varint
    AppendVarint(out, req.record_count());
    out.push_back(0x3D);  // field 7, fixed32
    out.resize(out.size() + 4);
    PutLe(out, out.size() - 4, req.compressed_crc32c(), 4);
    out.push_back(0x40);  // field 8, varint
    AppendVarint(out, uncompressed_bytes);
  }
  if (req.producer_epoch() != 0) {
    out.push_back(0x78);  // field 15, varint
    AppendVarint(out, req.producer_epoch());
  }
  uint32_t crc = storage::Crc32c(std::string_view(out).substr(kEntryHeaderBytes));
  PutLe(out, 9, crc, 4);
  return out;
}

std::string EncodeOffsetCommit(const internal::OffsetCommit& commit) {
  return Frame(EntryKind::kOffsetCommit, commit);
}

std::string EncodeGroupCommand(const internal::GroupCommand& command) {
  return Frame(EntryKind::kGroupCommand, command);
}

void StampAppendTime(std::string& data, int64_t append_time_ms) {
  PutLe(data, 1, static_cast<uint64_t>(append_time_ms), 8);
}

EntryKind EntryKindOf(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) return static_cast<EntryKind>(0);
  return static_cast<EntryKind>(data[0]);
}

int64_t EntryAppendTime(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) return 0;
  return static_cast<int64_t>(GetLe(data, 1, 8));
}

uint32_t EntryBodyCrc(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) return 0;
  return static_cast<uint32_t>(GetLe(data, 9, 4));
}

absl::Status VerifyEntryData(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) {
    return absl::DataLossError(absl::StrCat("entry data is ", data.size(), " bytes, shorter than its header"));
  }
  auto kind = static_cast<uint8_t>(data[0]);
  if (kind != 1 && kind != 2 && kind != 7) return absl::DataLossError(absl::StrCat("unknown entry kind ", kind));
  uint32_t want = static_cast<uint32_t>(GetLe(data, 9, 4));
  uint32_t got = storage::Crc32c(data.substr(kEntryHeaderBytes));
  if (want != got) {
    return absl::DataLossError(absl::StrCat("entry body CRC-32C mismatch: stored ", want, ", computed ", got));
  }
  return absl::OkStatus();
}

uint32_t BatchRecordCount(const internal::RecordBatch& batch) {
  if (batch.compression() != v1::COMPRESSION_NONE || batch.compacted()) return batch.record_count();
  return static_cast<uint32_t>(batch.records_size());
}

std::string EncodeCompactedBatch(const internal::RecordBatch& batch, int64_t append_time_ms) {
  std::string out = Frame(EntryKind::kRecordBatch, batch);
  StampAppendTime(out, append_time_ms);
  return out;
}

namespace {

// CheckCompactedBatch of `batch` holding `records` records (its records_size, or a summary's count).
absl::Status CheckCompacted(const internal::RecordBatch& batch, int records, uint32_t span) {
  if (!batch.compacted()) return absl::OkStatus();
  if (batch.compression() != v1::COMPRESSION_NONE) {
    return absl::DataLossError("compacted batch is marked compressed");
  }
  if (batch.record_count() != span) {
    return absl::DataLossError(
        absl::StrCat("compacted batch spans ", batch.record_count(), " offsets but its entry spans ", span));
  }
  if (batch.offset_deltas_size() != records) {
    return absl::DataLossError(absl::StrCat("compacted batch has ", records, " records but ",
                                            batch.offset_deltas_size(), " offset deltas"));
  }
  for (int i = 0; i < batch.offset_deltas_size(); ++i) {
    const uint32_t d = batch.offset_deltas(i);
    if (d >= span || (i > 0 && d <= batch.offset_deltas(i - 1))) {
      return absl::DataLossError(absl::StrCat("compacted batch offset delta ", i, " is ", d,
                                              ": deltas must increase strictly and stay below ", span));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCompactedBatch(const internal::RecordBatch& batch, uint32_t span) {
  return CheckCompacted(batch, batch.records_size(), span);
}

absl::Status CheckCompactedBatch(const BatchSummary& summary, uint32_t span) {
  return CheckCompacted(summary.batch, static_cast<int>(summary.records), span);
}

uint32_t BatchRecordCount(const BatchSummary& summary) {
  const internal::RecordBatch& batch = summary.batch;
  if (batch.compression() != v1::COMPRESSION_NONE || batch.compacted()) return batch.record_count();
  return summary.records;
}

uint32_t OriginalBodyCrc(std::string_view data, const internal::RecordBatch& batch) {
  return batch.compacted() ? batch.original_body_crc() : EntryBodyCrc(data);
}

absl::StatusOr<v1::RecordList> DecompressBatch(const internal::RecordBatch& batch) {
  const size_t limit = std::max<size_t>(Limits::kMaxBatchBytes, batch.uncompressed_bytes());
  auto plain = Decompress(batch.compression(), batch.compressed_records(), limit);
  if (!plain.ok()) return absl::DataLossError(plain.status().message());
  v1::RecordList list;
  if (!list.ParseFromString(*plain)) return absl::DataLossError("decompressed batch does not parse");
  if (static_cast<uint32_t>(list.records_size()) != batch.record_count()) {
    return absl::DataLossError(
        absl::StrCat("compressed batch says ", batch.record_count(), " records but holds ", list.records_size()));
  }
  return list;
}

absl::StatusOr<internal::RecordBatch> DecodeRecordBatch(std::string_view data) {
  return Decode<internal::RecordBatch>(data, EntryKind::kRecordBatch);
}

absl::StatusOr<BatchSummary> DecodeBatchSummary(std::string_view data) {
  using google::protobuf::internal::WireFormatLite;
  if (auto s = CheckEntry(data, EntryKind::kRecordBatch); !s.ok()) return s;
  const std::string_view body = data.substr(kEntryHeaderBytes);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  // Every field but the two that hold record bytes is copied, tag and all, into `rest`, which protobuf then parses
  // with its own rules (the last value of a scalar wins, packed or unpacked deltas): a few dozen bytes.
  BatchSummary out;
  std::string rest;
  while (true) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (static_cast<size_t>(in.CurrentPosition()) == body.size() && start == in.CurrentPosition()) break;
      return absl::DataLossError("entry body does not parse");
    }
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool bytes = WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (bytes && (field == internal::RecordBatch::kRecordsFieldNumber ||
                  field == internal::RecordBatch::kCompressedRecordsFieldNumber)) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.Skip(static_cast<int>(length))) {
        return absl::DataLossError("entry body does not parse");
      }
      if (field == internal::RecordBatch::kRecordsFieldNumber) ++out.records;
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return absl::DataLossError("entry body does not parse");
    rest.append(body.substr(start, in.CurrentPosition() - start));
  }
  if (!out.batch.ParseFromString(rest)) return absl::DataLossError("entry body does not parse");
  return out;
}

absl::StatusOr<internal::OffsetCommit> DecodeOffsetCommit(std::string_view data) {
  return Decode<internal::OffsetCommit>(data, EntryKind::kOffsetCommit);
}

absl::StatusOr<internal::GroupCommand> DecodeGroupCommand(std::string_view data) {
  return Decode<internal::GroupCommand>(data, EntryKind::kGroupCommand);
}

}  // namespace brook::server
