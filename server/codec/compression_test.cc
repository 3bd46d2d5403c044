// The batch codecs: round trips of both, corrupt and truncated input, decompression bombs stopped at the limit
// (with and without a declared size), and codecs the node does not know.
#include "server/codec/compression.h"

#include <lz4frame.h>
#include <zstd.h>

#include <chrono>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace brook::server {
namespace {

constexpr v1::Compression kCodecs[] = {v1::COMPRESSION_LZ4, v1::COMPRESSION_ZSTD};

// JSON-ish text with some randomness: compressible, but not trivially.
std::string SampleText(size_t bytes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    out +=
        "{\"user\":\"u" + std::to_string(rng() % 1000) + "\",\"amount\":" + std::to_string(rng() % 100000) + "}";
  }
  out.resize(bytes);
  return out;
}

// A Zstandard frame that does not declare its content size (as a streaming compressor writes).
std::string ZstdWithoutDeclaredSize(const std::string& plain) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress2(cctx, out.data(), out.size(), plain.data(), plain.size());
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// An LZ4 frame that does not declare its content size.
std::string Lz4WithoutDeclaredSize(const std::string& plain) {
  LZ4F_preferences_t prefs{};
  std::string out(LZ4F_compressFrameBound(plain.size(), &prefs), '\0');
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), plain.data(), plain.size(), &prefs);
  EXPECT_FALSE(LZ4F_isError(n));
  out.resize(n);
  return out;
}

TEST(Compression, EveryCodecRoundTrips) {
  for (v1::Compression codec : kCodecs) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{300'000}, size_t{4 << 20}}) {
      const std::string plain = SampleText(size, static_cast<uint32_t>(size));
      auto packed = Compress(codec, plain);
      ASSERT_TRUE(packed.ok()) << packed.status();
      if (size >= 1000) {
        EXPECT_LT(packed->size(), plain.size()) << CompressionName(codec) << " did not compress";
      }
      auto back = Decompress(codec, *packed, 4 << 20);
      ASSERT_TRUE(back.ok()) << CompressionName(codec) << " " << size << ": " << back.status();
      EXPECT_EQ(*back, plain) << CompressionName(codec) << " " << size;
    }
  }
}

TEST(Compression, FramesWithoutDeclaredSizeAndConcatenatedFramesDecode) {
  const std::string a = SampleText(200'000, 1), b = SampleText(70'000, 2);
  auto zstd = Decompress(v1::COMPRESSION_ZSTD, ZstdWithoutDeclaredSize(a) + ZstdWithoutDeclaredSize(b), 1 << 20);
  ASSERT_TRUE(zstd.ok()) << zstd.status();
  EXPECT_EQ(*zstd, a + b);
  auto lz4 =
      Decompress(v1::COMPRESSION_LZ4, Lz4WithoutDeclaredSize(a) + *Compress(v1::COMPRESSION_LZ4, b), 1 << 20);
  ASSERT_TRUE(lz4.ok()) << lz4.status();
  EXPECT_EQ(*lz4, a + b);
}

TEST(Compression, OutputOfExactlyTheLimitPassesAndOneByteMoreFails) {
  const std::string plain = SampleText(100'000, 3);
  for (v1::Compression codec : kCodecs) {
    for (const std::string& packed :
         {*Compress(codec, plain),
          codec == v1::COMPRESSION_ZSTD ? ZstdWithoutDeclaredSize(plain) : Lz4WithoutDeclaredSize(plain)}) {
      EXPECT_TRUE(Decompress(codec, packed, plain.size()).ok()) << CompressionName(codec);
      auto over = Decompress(codec, packed, plain.size() - 1);
      EXPECT_EQ(over.status().code(), absl::StatusCode::kOutOfRange) << CompressionName(codec) << over.status();
    }
  }
}

TEST(Compression, BombsStopAtTheLimitQuickly) {
  // 64 MiB of zeros packs into a few KiB; with a 4 MiB limit, decoding must stop there, declared size or not.
  const std::string zeros(64u << 20, '\0');
  const std::string bombs[][2] = {
      {*Compress(v1::COMPRESSION_LZ4, zeros), Lz4WithoutDeclaredSize(zeros)},  // kCodecs[0]
      {*Compress(v1::COMPRESSION_ZSTD, zeros), ZstdWithoutDeclaredSize(zeros)},
  };
  for (int c = 0; c < 2; ++c) {
    for (const std::string& bomb : bombs[c]) {
      ASSERT_LT(bomb.size(), 2u << 20) << "not much of a bomb";
      const auto start = std::chrono::steady_clock::now();
      auto out = Decompress(kCodecs[c], bomb, 4 << 20);
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      ASSERT_FALSE(out.ok()) << CompressionName(kCodecs[c]) << " bomb decompressed";
      EXPECT_EQ(out.status().code(), absl::StatusCode::kOutOfRange) << out.status();
      EXPECT_NE(out.status().message().find("4194304"), std::string::npos) << "names the limit: " << out.status();
      // Not a speed assertion (D9), a bound on a hang: stopping at 4 MiB takes milliseconds.
      EXPECT_LT(ms.count(), 5000) << "decoding went on past the limit";
    }
  }
}

TEST(Compression, CorruptAndTruncatedInputIsDataLoss) {
  const std::string plain = SampleText(50'000, 4);
  for (v1::Compression codec : kCodecs) {
    const std::string packed = *Compress(codec, plain);
    for (size_t len : {size_t{0}, size_t{3}, packed.size() / 2, packed.size() - 1}) {
      auto out = Decompress(codec, std::string_view(packed).substr(0, len), 1 << 20);
      ASSERT_FALSE(out.ok()) << CompressionName(codec) << " truncated to " << len << " decoded";
      EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << len << ": " << out.status();
    }
    auto trailing = Decompress(codec, packed + "junk", 1 << 20);
    EXPECT_EQ(trailing.status().code(), absl::StatusCode::kDataLoss) << "trailing bytes: " << trailing.status();
    // Damage in the middle: either the codec notices or the output differs (the CRC over the compressed bytes is
    // what guarantees detection; see validate_test.cc). It must never crash or overrun.
    std::mt19937 rng(5);
    for (int i = 0; i < 200; ++i) {
      std::string bad = packed;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      auto out = Decompress(codec, bad, 1 << 20);
      if (out.ok()) {
        EXPECT_LE(out->size(), 1u << 20);
      }
    }
    auto garbage = Decompress(codec, "this is not a frame of any codec", 1 << 20);
    EXPECT_EQ(garbage.status().code(), absl::StatusCode::kDataLoss) << garbage.status();
  }
}

TEST(Compression, UnknownCodecsAreRefused) {
  for (int codec : {0, 3, 99}) {
    auto out = Decompress(static_cast<v1::Compression>(codec), "abc", 100);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << codec;
    EXPECT_FALSE(KnownCompression(static_cast<v1::Compression>(codec)));
  }
  EXPECT_TRUE(KnownCompression(v1::COMPRESSION_LZ4));
  EXPECT_TRUE(KnownCompression(v1::COMPRESSION_ZSTD));
  EXPECT_EQ(CompressionName(v1::COMPRESSION_ZSTD), "ZSTD");
  EXPECT_EQ(CompressionName(static_cast<v1::Compression>(7)), "7");
}

}  // namespace
}  // namespace brook::server
