// The record batch codecs of brook.v1.Compression: LZ4 frames (liblz4's lz4frame) and Zstandard frames
// (libzstd). The node never compresses what producers send; it decompresses to validate a compressed Produce and
// to serve readers that do not accept compressed batches (docs/api.md "Compression").
//
// Pure functions, thread-safe. Decompress never produces more than max_bytes + 1 bytes whatever the input claims:
// a frame that declares a larger content size fails before any output is allocated, and one that does not declare
// it is decoded into a buffer that grows to at most max_bytes + 1. (liblz4 also keeps one block of its own, at
// most 4 MiB + 128 KiB, fixed by the frame format.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "brook/v1/records.pb.h"

namespace brook::server {

// "LZ4", "ZSTD", "NONE", or the number of an unknown codec.
std::string CompressionName(v1::Compression codec);

// Whether `codec` is one this node decodes (LZ4 or ZSTD).
bool KnownCompression(v1::Compression codec);

// Decompresses `data`, one or more complete frames of `codec`, into at most `max_bytes` bytes.
//   InvalidArgumentError  `codec` is NONE or unknown;
//   OutOfRangeError       the output would be larger than max_bytes (decoding stops at max_bytes + 1 bytes);
//   DataLossError         `data` is not valid: corrupt, truncated, trailing bytes, or a declared size it breaks.
// Cost: one pass over the output; allocates the output (and liblz4/libzstd contexts).
absl::StatusOr<std::string> Decompress(v1::Compression codec, std::string_view data, size_t max_bytes);

// Compresses `data` with `codec` at the codec's default level, declaring the content size in the frame. For tests
// and tools: producers compress (client/lib/compression.h), the node does not.
absl::StatusOr<std::string> Compress(v1::Compression codec, std::string_view data);

}  // namespace brook::server
