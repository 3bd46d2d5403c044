#include "client/lib/compression.h"

#include <lz4frame.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/lib/crc32c.h"

namespace brook::client {
namespace {

constexpr size_t kInitialOutputBytes = 64 << 10;

absl::StatusOr<std::string> DecompressZstd(std::string_view data, size_t max_bytes) {
  const unsigned long long declared = ZSTD_getFrameContentSize(data.data(), data.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return absl::DataLossError("not a Zstandard frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("the Zstandard frame declares ", declared, " bytes, over ", max_bytes));
  }
  const bool exact = declared != ZSTD_CONTENTSIZE_UNKNOWN &&
                     ZSTD_findFrameCompressedSize(data.data(), data.size()) == data.size();
  std::string out(exact ? static_cast<size_t>(declared) : max_bytes + 1, '\0');
  static thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (dctx == nullptr) return absl::ResourceExhaustedError("cannot create a Zstandard context");
  const size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) {
    if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall && !exact) {
      return absl::OutOfRangeError(absl::StrCat("decompresses to more than ", max_bytes, " bytes"));
    }
    return absl::DataLossError(absl::StrCat("Zstandard: ", ZSTD_getErrorName(n)));
  }
  if (n > max_bytes) return absl::OutOfRangeError(absl::StrCat("decompresses to more than ", max_bytes, " bytes"));
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> DecompressLz4(std::string_view data, size_t max_bytes) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("cannot create an LZ4 context");
  }
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> ctx(raw, LZ4F_freeDecompressionContext);
  LZ4F_frameInfo_t info{};
  size_t header = data.size();
  if (size_t r = LZ4F_getFrameInfo(ctx.get(), &info, data.data(), &header); LZ4F_isError(r)) {
    return absl::DataLossError(absl::StrCat("LZ4 frame header: ", LZ4F_getErrorName(r)));
  }
  if (info.contentSize > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("the LZ4 frame declares ", info.contentSize, " bytes, over ", max_bytes));
  }
  const size_t first = info.contentSize > 0 ? static_cast<size_t>(info.contentSize) : kInitialOutputBytes;
  std::string out(std::min(max_bytes + 1, std::max<size_t>(first, 1)), '\0');
  size_t in_pos = header, out_pos = 0;
  while (true) {
    if (out_pos == out.size()) out.resize(std::min(max_bytes + 1, out.size() * 2));
    size_t produced = out.size() - out_pos, consumed = data.size() - in_pos;
    const size_t r =
        LZ4F_decompress(ctx.get(), out.data() + out_pos, &produced, data.data() + in_pos, &consumed, nullptr);
    if (LZ4F_isError(r)) return absl::DataLossError(absl::StrCat("LZ4: ", LZ4F_getErrorName(r)));
    in_pos += consumed;
    out_pos += produced;
    if (out_pos > max_bytes) return absl::OutOfRangeError(absl::StrCat("decompresses to more than ", max_bytes));
    if (r == 0 && in_pos == data.size()) break;
    if (consumed == 0 && produced == 0 && out_pos < out.size()) {
      return absl::DataLossError(in_pos == data.size() ? "the LZ4 frame is truncated" : "LZ4 decoding stalled");
    }
  }
  out.resize(out_pos);
  return out;
}

}  // namespace

absl::StatusOr<v1::Compression> ParseCompression(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "none") return v1::COMPRESSION_NONE;
  if (lower == "lz4") return v1::COMPRESSION_LZ4;
  if (lower == "zstd") return v1::COMPRESSION_ZSTD;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown compression '", std::string(name), "'; use none, lz4 or zstd"));
}

std::string CompressionName(v1::Compression codec) {
  switch (codec) {
    case v1::COMPRESSION_NONE:
      return "none";
    case v1::COMPRESSION_LZ4:
      return "lz4";
    case v1::COMPRESSION_ZSTD:
      return "zstd";
    default:
      return absl::StrCat(static_cast<int>(codec));
  }
}

absl::StatusOr<std::string> Compress(v1::Compression codec, std::string_view data) {
  std::string out;
  if (codec == v1::COMPRESSION_ZSTD) {
    static thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    if (cctx == nullptr) return absl::ResourceExhaustedError("cannot create a Zstandard context");
    out.resize(ZSTD_compressBound(data.size()));
    const size_t n =
        ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), data.data(), data.size(), ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return absl::InternalError(absl::StrCat("Zstandard: ", ZSTD_getErrorName(n)));
    out.resize(n);
    return out;
  }
  if (codec == v1::COMPRESSION_LZ4) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.contentSize = data.size();
    out.resize(LZ4F_compressFrameBound(data.size(), &prefs));
    const size_t n = LZ4F_compressFrame(out.data(), out.size(), data.data(), data.size(), &prefs);
    if (LZ4F_isError(n)) return absl::InternalError(absl::StrCat("LZ4: ", LZ4F_getErrorName(n)));
    out.resize(n);
    return out;
  }
  return absl::InvalidArgumentError(absl::StrCat("no encoder for compression ", CompressionName(codec)));
}

absl::StatusOr<std::string> Decompress(v1::Compression codec, std::string_view data, size_t max_bytes) {
  switch (codec) {
    case v1::COMPRESSION_LZ4:
      return DecompressLz4(data, max_bytes);
    case v1::COMPRESSION_ZSTD:
      return DecompressZstd(data, max_bytes);
    default:
      return absl::InvalidArgumentError(absl::StrCat("no decoder for compression ", CompressionName(codec)));
  }
}

absl::StatusOr<BatchSizes> CompressRequest(v1::Compression codec, v1::ProduceRequest* request) {
  v1::RecordList list;
  list.mutable_records()->Swap(request->mutable_records());
  const std::string plain = list.SerializeAsString();
  BatchSizes sizes{plain.size(), plain.size(), false};
  if (codec == v1::COMPRESSION_NONE || plain.size() > kMaxUncompressedBatchBytes) {
    list.mutable_records()->Swap(request->mutable_records());
    return sizes;
  }
  auto packed = Compress(codec, plain);
  if (!packed.ok()) {
    list.mutable_records()->Swap(request->mutable_records());
    return packed.status();
  }
  request->set_compression(codec);
  request->set_record_count(static_cast<uint32_t>(list.records_size()));
  request->set_compressed_crc32c(Crc32c(*packed));
  sizes.sent_bytes = packed->size();
  sizes.compressed = true;
  request->set_compressed_records(std::move(*packed));
  return sizes;
}

absl::Status ExpandBatch(const v1::CompressedBatch& batch, uint64_t from_offset,
                         std::vector<v1::StoredRecord>* out) {
  auto where = [&] { return absl::StrCat("compressed batch at offset ", batch.base_offset(), ": "); };
  const uint32_t crc = Crc32c(batch.data());
  if (crc != batch.crc32c()) {
    return absl::DataLossError(absl::StrCat(where(), "CRC-32C mismatch (batch says ", batch.crc32c(),
                                            ", data has ", crc,
                                            "): the bytes were damaged after the producer wrote them"));
  }
  auto plain = Decompress(batch.compression(), batch.data(), batch.uncompressed_bytes());
  if (!plain.ok() || plain->size() != batch.uncompressed_bytes()) {
    return absl::DataLossError(absl::StrCat(where(), "does not decompress to ", batch.uncompressed_bytes(),
                                            " bytes: ", plain.ok() ? "size differs" : plain.status().message()));
  }
  v1::RecordList list;
  if (!list.ParseFromString(*plain)) return absl::DataLossError(absl::StrCat(where(), "not a RecordList"));
  if (static_cast<uint32_t>(list.records_size()) != batch.record_count()) {
    return absl::DataLossError(
        absl::StrCat(where(), "says ", batch.record_count(), " records but holds ", list.records_size()));
  }
  for (int i = 0; i < list.records_size(); ++i) {
    const uint64_t offset = batch.base_offset() + static_cast<uint64_t>(i);
    if (offset < from_offset) continue;
    v1::Record& r = *list.mutable_records(i);
    v1::StoredRecord& sr = out->emplace_back();
    sr.set_offset(offset);
    sr.set_timestamp_ms(r.timestamp_ms() != 0 ? r.timestamp_ms() : batch.append_time_ms());
    sr.set_append_time_ms(batch.append_time_ms());
    sr.set_allocated_key(r.release_key());
    sr.set_allocated_value(r.release_value());
    sr.mutable_headers()->Swap(r.mutable_headers());
    sr.set_tombstone(r.tombstone());
  }
  return absl::OkStatus();
}

}  // namespace brook::client
