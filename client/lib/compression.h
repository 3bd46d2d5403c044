// Record batch compression on the client side (docs/api.md "Compression"): a producer turns a batch's records into
// the compressed form of a ProduceRequest, a consumer turns a CompressedBatch back into StoredRecords. The codecs
// are LZ4 frames (liblz4) and Zstandard frames (libzstd); the node has its own copy (server/codec/compression.h),
// since client/ depends on proto/ only.
//
// Pure functions, thread-safe. Each allocates its output; decompression never writes more than its bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/v1/log.pb.h"
#include "brook/v1/records.pb.h"

namespace brook::client {

// The server's Limits.max_batch_bytes (default): a compressed batch may decompress to at most this many bytes.
inline constexpr size_t kMaxUncompressedBatchBytes = 4 << 20;

// "none", "lz4", "zstd" (any case) to the codec; INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::Compression> ParseCompression(std::string_view name);
// "none", "lz4", "zstd", or the number of an unknown codec.
std::string CompressionName(v1::Compression codec);

// Compresses `data` at the codec's default level (LZ4: fast; Zstandard: level 3), declaring the content size in
// the frame. INVALID_ARGUMENT for NONE or an unknown codec.
absl::StatusOr<std::string> Compress(v1::Compression codec, std::string_view data);
// Decompresses one or more frames into at most `max_bytes` bytes: OUT_OF_RANGE past it (decoding stops there),
// DATA_LOSS for bytes that are not valid frames, INVALID_ARGUMENT for NONE or an unknown codec.
absl::StatusOr<std::string> Decompress(v1::Compression codec, std::string_view data, size_t max_bytes);

// What compressing a batch did: its serialized records, and what travels (equal when sent uncompressed).
struct BatchSizes {
  size_t uncompressed_bytes = 0;
  size_t sent_bytes = 0;
  bool compressed = false;
};

// Moves the records of `request` into its compressed form: compression, compressed_records (the compressed
// serialized RecordList), record_count and compressed_crc32c. A batch whose records serialize to more than
// kMaxUncompressedBatchBytes is left as plain records (the server would refuse it compressed; plain, it is judged
// by the plain limits). Cost: one serialization and one compression of the batch.
absl::StatusOr<BatchSizes> CompressRequest(v1::Compression codec, v1::ProduceRequest* request);

// Appends the records of `batch` with offset >= from_offset to `out`, in offset order. DATA_LOSS when the CRC-32C
// of the data is not batch.crc32c (the bytes were damaged between the producer and here), or the data does not
// decompress to exactly uncompressed_bytes bytes of a RecordList of record_count records.
absl::Status ExpandBatch(const v1::CompressedBatch& batch, uint64_t from_offset,
                         std::vector<v1::StoredRecord>* out);

}  // namespace brook::client
