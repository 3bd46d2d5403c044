// The client's side of batch compression: codecs, compressing a Produce, expanding a served batch (CRC, size,
// count checked, records below the position skipped), and the benchmark's record kinds.
#include "client/lib/compression.h"

#include <set>
#include <string>

#include "client/cli/bench_records.h"
#include "client/lib/crc32c.h"
#include "gtest/gtest.h"

namespace brook::client {
namespace {

constexpr v1::Compression kCodecs[] = {v1::COMPRESSION_LZ4, v1::COMPRESSION_ZSTD};

v1::ProduceRequest RequestOf(int count) {
  v1::ProduceRequest req;
  req.set_topic("orders");
  req.set_producer_id(5);
  req.set_sequence(10);
  for (int i = 0; i < count; ++i) {
    v1::Record* r = req.add_records();
    r->set_key("k" + std::to_string(i));
    r->set_value("{\"n\":" + std::to_string(i) + ",\"text\":\"the same words again and again\"}");
    if (i % 2 == 1) r->set_timestamp_ms(5'000 + i);
    v1::Header* h = r->add_headers();
    h->set_key("trace");
    h->set_value(std::string("\0\1", 2) + std::to_string(i));
  }
  return req;
}

// The batch a node would serve for `req` (compressed by CompressRequest) at `base`.
v1::CompressedBatch Served(const v1::ProduceRequest& req, uint64_t base, uint32_t uncompressed) {
  v1::CompressedBatch b;
  b.set_base_offset(base);
  b.set_record_count(req.record_count());
  b.set_append_time_ms(9'000);
  b.set_compression(req.compression());
  b.set_data(req.compressed_records());
  b.set_crc32c(req.compressed_crc32c());
  b.set_uncompressed_bytes(uncompressed);
  return b;
}

TEST(ClientCompression, Crc32cKnownAnswer) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(ClientCompression, NamesParse) {
  EXPECT_EQ(*ParseCompression("zstd"), v1::COMPRESSION_ZSTD);
  EXPECT_EQ(*ParseCompression("LZ4"), v1::COMPRESSION_LZ4);
  EXPECT_EQ(*ParseCompression("none"), v1::COMPRESSION_NONE);
  EXPECT_EQ(ParseCompression("gzip").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompressionName(v1::COMPRESSION_ZSTD), "zstd");
}

TEST(ClientCompression, CodecsRoundTripAndStopAtTheirBound) {
  std::mt19937_64 rng(1);
  const std::string text = cli::JsonEvent(rng, 50'000);
  for (v1::Compression codec : kCodecs) {
    auto packed = Compress(codec, text);
    ASSERT_TRUE(packed.ok()) << packed.status();
    EXPECT_LT(packed->size(), text.size());
    auto back = Decompress(codec, *packed, text.size());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, text);
    EXPECT_EQ(Decompress(codec, *packed, text.size() - 1).status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(Decompress(codec, "not a frame", 100).status().code(), absl::StatusCode::kDataLoss);
  }
  const std::string zeros(64u << 20, '\0');
  for (v1::Compression codec : kCodecs) {
    auto bomb = Decompress(codec, *Compress(codec, zeros), 1 << 20);
    EXPECT_EQ(bomb.status().code(), absl::StatusCode::kOutOfRange) << CompressionName(codec);
  }
}

TEST(ClientCompression, CompressRequestReplacesRecordsWithTheirCompressedForm) {
  for (v1::Compression codec : kCodecs) {
    v1::ProduceRequest req = RequestOf(50);
    v1::RecordList want;
    *want.mutable_records() = req.records();
    auto sizes = CompressRequest(codec, &req);
    ASSERT_TRUE(sizes.ok()) << sizes.status();
    EXPECT_TRUE(sizes->compressed);
    EXPECT_EQ(req.records_size(), 0) << "records and compressed_records are exclusive";
    EXPECT_EQ(req.compression(), codec);
    EXPECT_EQ(req.record_count(), 50u);
    EXPECT_EQ(req.compressed_crc32c(), Crc32c(req.compressed_records()));
    EXPECT_EQ(sizes->uncompressed_bytes, want.ByteSizeLong());
    EXPECT_EQ(sizes->sent_bytes, req.compressed_records().size());
    EXPECT_LT(sizes->sent_bytes, sizes->uncompressed_bytes);
    auto plain = Decompress(codec, req.compressed_records(), sizes->uncompressed_bytes);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(*plain, want.SerializeAsString()) << "compressed_records is the compressed serialized RecordList";
    EXPECT_EQ(req.producer_id(), 5u);
    EXPECT_EQ(req.sequence(), 10u);
  }
}

TEST(ClientCompression, ABatchOverTheServersLimitGoesUncompressed) {
  v1::ProduceRequest req;
  for (int i = 0; i < 5; ++i) req.add_records()->set_value(std::string(1 << 20, static_cast<char>('a' + i)));
  auto sizes = CompressRequest(v1::COMPRESSION_ZSTD, &req);
  ASSERT_TRUE(sizes.ok());
  EXPECT_FALSE(sizes->compressed);
  EXPECT_EQ(req.records_size(), 5);
  EXPECT_EQ(req.compression(), v1::COMPRESSION_NONE);
  EXPECT_TRUE(req.compressed_records().empty());
  v1::ProduceRequest none = RequestOf(3);
  ASSERT_TRUE(CompressRequest(v1::COMPRESSION_NONE, &none).ok());
  EXPECT_EQ(none.records_size(), 3) << "NONE leaves the records as they are";
}

TEST(ClientCompression, ExpandBatchRebuildsStoredRecordsFromAnOffset) {
  for (v1::Compression codec : kCodecs) {
    v1::ProduceRequest req = RequestOf(8);
    const v1::ProduceRequest original = req;
    auto sizes = CompressRequest(codec, &req);
    ASSERT_TRUE(sizes.ok());
    const auto batch = Served(req, 100, static_cast<uint32_t>(sizes->uncompressed_bytes));
    std::vector<v1::StoredRecord> all, tail;
    ASSERT_TRUE(ExpandBatch(batch, 0, &all).ok());
    ASSERT_EQ(all.size(), 8u);
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(all[i].offset(), 100u + i);
      EXPECT_EQ(all[i].key(), original.records(i).key());
      EXPECT_EQ(all[i].value(), original.records(i).value());
      ASSERT_EQ(all[i].headers_size(), 1);
      EXPECT_EQ(all[i].headers(0).value(), original.records(i).headers(0).value());
      EXPECT_EQ(all[i].append_time_ms(), 9'000);
      EXPECT_EQ(all[i].timestamp_ms(), i % 2 == 1 ? 5'000 + i : 9'000) << "unset timestamps take the append time";
    }
    ASSERT_TRUE(ExpandBatch(batch, 105, &tail).ok());
    ASSERT_EQ(tail.size(), 3u) << "a batch served from its middle: records below the position are skipped";
    EXPECT_EQ(tail[0].offset(), 105u);
  }
}

TEST(ClientCompression, ExpandBatchRefusesDamagedOrInconsistentBatches) {
  v1::ProduceRequest req = RequestOf(8);
  auto sizes = CompressRequest(v1::COMPRESSION_ZSTD, &req);
  ASSERT_TRUE(sizes.ok());
  const auto good = Served(req, 0, static_cast<uint32_t>(sizes->uncompressed_bytes));
  std::vector<v1::StoredRecord> out;

  v1::CompressedBatch flipped = good;
  std::string data = flipped.data();
  data[data.size() / 2] ^= 0x10;
  flipped.set_data(data);
  absl::Status s = ExpandBatch(flipped, 0, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("CRC-32C mismatch"), std::string::npos) << s;

  v1::CompressedBatch wrong_crc = good;
  wrong_crc.set_crc32c(good.crc32c() + 1);
  EXPECT_EQ(ExpandBatch(wrong_crc, 0, &out).code(), absl::StatusCode::kDataLoss);

  v1::CompressedBatch wrong_count = good;
  wrong_count.set_record_count(7);
  EXPECT_EQ(ExpandBatch(wrong_count, 0, &out).code(), absl::StatusCode::kDataLoss);

  v1::CompressedBatch wrong_size = good;
  wrong_size.set_uncompressed_bytes(good.uncompressed_bytes() - 1);
  EXPECT_EQ(ExpandBatch(wrong_size, 0, &out).code(), absl::StatusCode::kDataLoss) << "bounded by the stated size";
  EXPECT_TRUE(out.empty()) << "nothing is handed out from a refused batch";
}

TEST(BenchRecords, KindsHaveTheirSizeAreDistinctAndRepeatable) {
  for (auto kind : {cli::RecordKind::kRandom, cli::RecordKind::kJson}) {
    const auto values = cli::MakeBenchValues(kind, 1024, 300);
    std::set<std::string> distinct(values.begin(), values.end());
    EXPECT_EQ(distinct.size(), values.size());
    for (const auto& v : values) ASSERT_EQ(v.size(), 1024u);
    EXPECT_EQ(cli::MakeBenchValues(kind, 1024, 300), values) << "same seed, same values";
  }
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{600}, size_t{1024}, size_t{4096}}) {
    std::mt19937_64 rng(size);
    EXPECT_EQ(cli::JsonEvent(rng, size).size(), size);
  }
  std::mt19937_64 rng(3);
  const std::string event = cli::JsonEvent(rng, 1024);
  EXPECT_EQ(event.front(), '{');
  EXPECT_EQ(event.back(), '}');
  EXPECT_NE(event.find("\"customer\":{"), std::string::npos) << event;
  EXPECT_NE(event.find("\"items\":[{\"sku\""), std::string::npos) << event;
}

TEST(BenchRecords, JsonCompressesAndRandomDoesNot) {
  std::string json, random;
  for (const auto& v : cli::MakeBenchValues(cli::RecordKind::kJson, 1024, 500)) json += v;
  for (const auto& v : cli::MakeBenchValues(cli::RecordKind::kRandom, 1024, 500)) random += v;
  EXPECT_LT(Compress(v1::COMPRESSION_ZSTD, json)->size() * 2, json.size());
  EXPECT_GT(Compress(v1::COMPRESSION_ZSTD, random)->size(), random.size() * 99 / 100);
}

}  // namespace
}  // namespace brook::client
