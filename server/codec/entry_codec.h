// The data of a partition's Raft log entries (kNormal): what one entry holds and how it is laid out.
//
//   byte 0        kind: 1 = record batch, 2 = consumer-group offset commit, 7 = group coordinator command (the
//                 kind is outside the body CRC, so kinds differ in at least two bits: one flipped bit cannot
//                 turn an entry into another kind)
//   bytes 1..8    append_time_ms, int64 little-endian: stamped by the leader when it proposes the entry
//   bytes 9..12   CRC-32C (Castagnoli) of the body, uint32 little-endian
//   bytes 13..    body: brook.internal.RecordBatch, brook.internal.OffsetCommit (proto/brook/internal/state.proto)
//                 or brook.internal.GroupCommand (proto/brook/internal/groups.proto)
//
// The body's CRC is computed once, by the gRPC thread that encodes the Produce, and checked by every replica
// before it appends a received entry and whenever the entry is decoded for a read. Storage adds its own CRC over
// the whole stored value. Key compaction rewrites a batch's body (EncodeCompactedBatch): the header keeps its kind
// and append time and gets the CRC of the new body; the body keeps the original CRC for idempotence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "brook/internal/groups.pb.h"
#include "brook/internal/state.pb.h"
#include "brook/v1/log.pb.h"

namespace brook::server {

enum class EntryKind : uint8_t { kRecordBatch = 1, kOffsetCommit = 2, kGroupCommand = 7 };

inline constexpr size_t kEntryHeaderBytes = 13;

// Encodes the records of a Produce (with its producer id and sequence) as entry data. append_time_ms is 0 until
// StampAppendTime. Costs one copy of the records. A compressed Produce (req.compression() != NONE, already
// validated) is stored as received: compression, compressed_records, record_count and compressed_crc32c, plus
// `uncompressed_bytes`, the decompressed size validation found (docs/api.md "Compression").
std::string EncodeRecordBatch(const v1::ProduceRequest& req, uint32_t uncompressed_bytes = 0);

// Offsets a decoded batch spans: record_count of a compressed one (checked at produce time, so appliers need not
// decompress) and of a compacted one (its span, whatever compaction removed), the size of `records` otherwise.
uint32_t BatchRecordCount(const internal::RecordBatch& batch);
std::string EncodeOffsetCommit(const internal::OffsetCommit& commit);
// A consumer-group coordinator command (docs/decisions.md A19); an entry of no records.
std::string EncodeGroupCommand(const internal::GroupCommand& command);

// Entry data for a batch that key compaction rewrote (batch.compacted() set: surviving records, their offset
// deltas, the span in record_count, the original body CRC), stamped with the entry's `append_time_ms`, with the
// CRC of the new body in the header. Costs one copy of the surviving records.
std::string EncodeCompactedBatch(const internal::RecordBatch& batch, int64_t append_time_ms);

// Checks a compacted batch against the span of its entry: uncompressed, record_count == span, one offset delta
// per record, strictly increasing, each below the span. DataLoss says what is wrong. OK for a batch that is not
// compacted.
absl::Status CheckCompactedBatch(const internal::RecordBatch& batch, uint32_t span);

// The offset of record i of a decoded uncompressed batch whose entry starts at `base_offset`.
inline uint64_t RecordOffset(const internal::RecordBatch& batch, uint64_t base_offset, int i) {
  return base_offset + (batch.compacted() ? batch.offset_deltas(i) : static_cast<uint64_t>(i));
}

// The body CRC the batch had when it was appended (what the idempotent-producer window remembers): the
// original_body_crc of a compacted batch, else the CRC in `data`'s header.
uint32_t OriginalBodyCrc(std::string_view data, const internal::RecordBatch& batch);

// The records of a compressed batch, decompressed (within max(Limits.max_batch_bytes, uncompressed_bytes)) and
// checked against record_count. DataLoss for bytes that do not decompress or parse. Costs one decompression.
absl::StatusOr<v1::RecordList> DecompressBatch(const internal::RecordBatch& batch);

// Sets the append time of encoded entry data in place (the time is not covered by the body CRC).
void StampAppendTime(std::string& data, int64_t append_time_ms);

// The header fields, without decoding the body. Entry data shorter than the header yields kind 0.
EntryKind EntryKindOf(std::string_view data);
int64_t EntryAppendTime(std::string_view data);
// The body CRC stored in the header (what idempotent retries are compared by).
uint32_t EntryBodyCrc(std::string_view data);

// Checks the header and the body CRC. DataLoss names what is wrong.
absl::Status VerifyEntryData(std::string_view data);

absl::StatusOr<internal::RecordBatch> DecodeRecordBatch(std::string_view data);

// What applying a batch needs, without its records: the batch's fields except `records` and `compressed_records`
// (left empty), and how many records it holds. Checks the header and the body CRC as DecodeRecordBatch does, and
// the body's wire format down to each field's bounds; a record's own bytes are skipped, not parsed (the body CRC
// covers them, and every read decodes them in full). Costs no allocation per record: applying a batch of a
// thousand records parses a few scalars instead of copying a thousand keys and values.
struct BatchSummary {
  internal::RecordBatch batch;  // records and compressed_records empty
  uint32_t records = 0;         // the number of `records` fields in the body
};
absl::StatusOr<BatchSummary> DecodeBatchSummary(std::string_view data);
// BatchRecordCount and CheckCompactedBatch of the batch the summary describes.
uint32_t BatchRecordCount(const BatchSummary& summary);
absl::Status CheckCompactedBatch(const BatchSummary& summary, uint32_t span);
absl::StatusOr<internal::OffsetCommit> DecodeOffsetCommit(std::string_view data);
absl::StatusOr<internal::GroupCommand> DecodeGroupCommand(std::string_view data);

}  // namespace brook::server
