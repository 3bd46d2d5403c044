#include "server/codec/compression.h"

#include <lz4frame.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"

namespace brook::server {
namespace {

// First output buffer of a frame that does not declare its size: grown by doubling up to the limit.
constexpr size_t kInitialOutputBytes = 64 << 10;

absl::StatusOr<std::string> DecompressZstd(std::string_view data, size_t max_bytes) {
  const unsigned long long declared = ZSTD_getFrameContentSize(data.data(), data.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return absl::DataLossError("not a Zstandard frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("the Zstandard frame declares ", declared, " bytes, over the limit of ", max_bytes));
  }
  // One frame that declares its size decodes into exactly that much; anything else into at most max_bytes + 1.
  // One-shot decoding writes straight into `out`: libzstd allocates no window buffer of the frame's choosing.
  const bool exact = declared != ZSTD_CONTENTSIZE_UNKNOWN &&
                     ZSTD_findFrameCompressedSize(data.data(), data.size()) == data.size();
  const size_t capacity = exact ? static_cast<size_t>(declared) : max_bytes + 1;
  std::string out(capacity, '\0');
  static thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (dctx == nullptr) return absl::ResourceExhaustedError("cannot create a Zstandard context");
  const size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) {
    if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall && !exact) {
      return absl::OutOfRangeError(absl::StrCat("decompresses to more than the limit of ", max_bytes, " bytes"));
    }
    return absl::DataLossError(absl::StrCat("Zstandard: ", ZSTD_getErrorName(n)));
  }
  if (n > max_bytes) {
    return absl::OutOfRangeError(absl::StrCat("decompresses to more than the limit of ", max_bytes, " bytes"));
  }
  if (exact && n != declared) {
    return absl::DataLossError(absl::StrCat("the Zstandard frame declares ", declared, " bytes but holds ", n));
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::string> DecompressLz4(std::string_view data, size_t max_bytes) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("cannot create an LZ4 context");
  }
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> ctx(raw, LZ4F_freeDecompressionContext);
  // The first frame's header: fail at once when it declares more than the limit.
  LZ4F_frameInfo_t info{};
  size_t header = data.size();
  if (size_t r = LZ4F_getFrameInfo(ctx.get(), &info, data.data(), &header); LZ4F_isError(r)) {
    return absl::DataLossError(absl::StrCat("LZ4 frame header: ", LZ4F_getErrorName(r)));
  }
  if (info.contentSize > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("the LZ4 frame declares ", info.contentSize, " bytes, over the limit of ", max_bytes));
  }
  size_t first = info.contentSize > 0 ? static_cast<size_t>(info.contentSize) : kInitialOutputBytes;
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
    if (out_pos > max_bytes) {
      return absl::OutOfRangeError(absl::StrCat("decompresses to more than the limit of ", max_bytes, " bytes"));
    }
    if (r == 0 && in_pos == data.size()) break;  // the last frame is complete and flushed
    if (consumed == 0 && produced == 0 && out_pos < out.size()) {
      return absl::DataLossError(in_pos == data.size() ? "the LZ4 frame is truncated" : "LZ4 decoding stalled");
    }
  }
  out.resize(out_pos);
  return out;
}

}  // namespace

std::string CompressionName(v1::Compression codec) {
  switch (codec) {
    case v1::COMPRESSION_NONE:
      return "NONE";
    case v1::COMPRESSION_LZ4:
      return "LZ4";
    case v1::COMPRESSION_ZSTD:
      return "ZSTD";
    default:
      return absl::StrCat(static_cast<int>(codec));
  }
}

bool KnownCompression(v1::Compression codec) {
  return codec == v1::COMPRESSION_LZ4 || codec == v1::COMPRESSION_ZSTD;
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

absl::StatusOr<std::string> Compress(v1::Compression codec, std::string_view data) {
  std::string out;
  if (codec == v1::COMPRESSION_ZSTD) {
    out.resize(ZSTD_compressBound(data.size()));
    const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), ZSTD_CLEVEL_DEFAULT);
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

}  // namespace brook::server
