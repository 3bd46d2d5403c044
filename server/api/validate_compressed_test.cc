// Validation of a compressed Produce (log.proto ProduceRequest fields 8 to 11): every error answers
// INVALID_ARGUMENT with a BadRequest naming the field, and nothing decompresses past Limits.max_batch_bytes.
#include <string>

#include "gtest/gtest.h"
#include "server/api/validate.h"
#include "server/api/validate_testing.h"
#include "server/codec/compression.h"
#include "server/common/limits.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

using testing::RejectsField;

v1::RecordList SampleRecords(int count) {
  v1::RecordList list;
  for (int i = 0; i < count; ++i) {
    auto* r = list.add_records();
    r->set_key("user-" + std::to_string(i));
    r->set_value("{\"event\":\"click\",\"n\":" + std::to_string(i) + "}");
    auto* h = r->add_headers();
    h->set_key("trace");
    h->set_value(std::to_string(i));
  }
  return list;
}

// A request carrying `compressed` as its compressed batch, with a correct CRC and the given count.
v1::ProduceRequest WithCompressedBytes(v1::Compression codec, const std::string& compressed, uint32_t count) {
  v1::ProduceRequest req;
  req.set_topic("orders");
  req.set_compression(codec);
  req.set_compressed_records(compressed);
  req.set_record_count(count);
  req.set_compressed_crc32c(storage::Crc32c(compressed));
  return req;
}

v1::ProduceRequest Compressed(const v1::RecordList& list, v1::Compression codec = v1::COMPRESSION_ZSTD) {
  return WithCompressedBytes(codec, *Compress(codec, list.SerializeAsString()),
                             static_cast<uint32_t>(list.records_size()));
}

TEST(ValidateCompressedProduce, AcceptsLz4AndZstdBatchesAndReportsTheirShape) {
  const v1::RecordList list = SampleRecords(20);
  for (v1::Compression codec : {v1::COMPRESSION_LZ4, v1::COMPRESSION_ZSTD}) {
    ValidatedProduce valid;
    auto s = ValidateProduce(Compressed(list, codec), &valid);
    ASSERT_TRUE(s.ok()) << CompressionName(codec) << ": " << s.error_message();
    EXPECT_EQ(valid.record_count, 20u);
    EXPECT_EQ(valid.uncompressed_bytes, list.ByteSizeLong());
  }
  ValidatedProduce plain;
  v1::ProduceRequest req;
  req.set_topic("orders");
  *req.mutable_records() = list.records();
  ASSERT_TRUE(ValidateProduce(req, &plain).ok());
  EXPECT_EQ(plain.record_count, 20u);
  EXPECT_EQ(plain.uncompressed_bytes, 0u);
}

TEST(ValidateCompressedProduce, UnknownCodecIsRejected) {
  auto req = Compressed(SampleRecords(2));
  req.set_compression(static_cast<v1::Compression>(3));
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "compression"));
}

TEST(ValidateCompressedProduce, RecordsAndCompressedRecordsAreExclusive) {
  auto req = Compressed(SampleRecords(2));
  req.add_records()->set_value("also plain");
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "records"));
}

TEST(ValidateCompressedProduce, CompressedFieldsWithoutACodecAreRejected) {
  const auto base = Compressed(SampleRecords(2));
  for (int field = 0; field < 3; ++field) {
    v1::ProduceRequest req;
    req.set_topic("orders");
    req.add_records()->set_value("v");
    if (field == 0) req.set_compressed_records(base.compressed_records());
    if (field == 1) req.set_record_count(2);
    if (field == 2) req.set_compressed_crc32c(base.compressed_crc32c());
    EXPECT_TRUE(RejectsField(ValidateProduce(req), "compression")) << "field " << field;
  }
}

TEST(ValidateCompressedProduce, EmptyCompressedRecordsAreRejected) {
  EXPECT_TRUE(
      RejectsField(ValidateProduce(WithCompressedBytes(v1::COMPRESSION_LZ4, "", 1)), "compressed_records"));
}

TEST(ValidateCompressedProduce, RecordCountMustBeWithinTheBatchLimit) {
  auto req = Compressed(SampleRecords(2));
  req.set_record_count(0);
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "record_count"));
  req.set_record_count(Limits::kMaxBatchRecords + 1);
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "record_count"));
}

TEST(ValidateCompressedProduce, CrcMismatchIsRejected) {
  auto req = Compressed(SampleRecords(5));
  req.set_compressed_crc32c(req.compressed_crc32c() ^ 1);
  auto s = ValidateProduce(req);
  EXPECT_TRUE(RejectsField(s, "compressed_crc32c"));
  EXPECT_NE(s.error_message().find("CRC mismatch"), std::string::npos) << s.error_message();
  // A byte changed on the way, CRC as the client computed it.
  auto damaged = Compressed(SampleRecords(5));
  std::string bytes = damaged.compressed_records();
  bytes[bytes.size() / 2] ^= 0x40;
  damaged.set_compressed_records(bytes);
  EXPECT_TRUE(RejectsField(ValidateProduce(damaged), "compressed_crc32c"));
}

TEST(ValidateCompressedProduce, BytesThatDoNotDecompressAreRejected) {
  for (v1::Compression codec : {v1::COMPRESSION_LZ4, v1::COMPRESSION_ZSTD}) {
    auto s = ValidateProduce(WithCompressedBytes(codec, "plain text, not a frame", 1));
    EXPECT_TRUE(RejectsField(s, "compressed_records")) << CompressionName(codec);
    EXPECT_NE(s.error_message().find("does not decompress"), std::string::npos) << s.error_message();
  }
  // Valid Zstandard, declared as LZ4.
  auto swapped = Compressed(SampleRecords(2), v1::COMPRESSION_ZSTD);
  swapped.set_compression(v1::COMPRESSION_LZ4);
  EXPECT_TRUE(RejectsField(ValidateProduce(swapped), "compressed_records"));
}

TEST(ValidateCompressedProduce, DecompressionBombFailsNamingTheLimit) {
  // 64 MiB of zeros packs into a few KiB (with or without the size declared: compression_test.cc).
  const std::string zeros(64u << 20, '\0');
  for (v1::Compression codec : {v1::COMPRESSION_LZ4, v1::COMPRESSION_ZSTD}) {
    auto s = ValidateProduce(WithCompressedBytes(codec, *Compress(codec, zeros), 1));
    EXPECT_TRUE(RejectsField(s, "compressed_records")) << CompressionName(codec);
    EXPECT_NE(s.error_message().find(std::to_string(Limits::kMaxBatchBytes)), std::string::npos)
        << s.error_message();
    EXPECT_NE(s.error_message().find("max_batch_bytes"), std::string::npos) << s.error_message();
  }
  // A well-formed RecordList one byte over the limit is just as refused.
  v1::RecordList list;
  list.add_records()->set_value(std::string(Limits::kMaxRecordBytes - 16, 'x'));
  while (list.ByteSizeLong() <= Limits::kMaxBatchBytes) *list.add_records() = list.records(0);
  EXPECT_TRUE(RejectsField(ValidateProduce(Compressed(list)), "compressed_records"));
}

TEST(ValidateCompressedProduce, BytesThatAreNoRecordListAreRejected) {
  const std::string not_a_list = "\xff\xff\xff\xff garbage";
  EXPECT_TRUE(RejectsField(
      ValidateProduce(WithCompressedBytes(v1::COMPRESSION_ZSTD, *Compress(v1::COMPRESSION_ZSTD, not_a_list), 1)),
      "compressed_records"));
}

TEST(ValidateCompressedProduce, RecordCountMustMatchTheRecordsHeld) {
  auto req = Compressed(SampleRecords(7));
  req.set_record_count(6);
  auto s = ValidateProduce(req);
  EXPECT_TRUE(RejectsField(s, "record_count"));
  EXPECT_NE(s.error_message().find("holds 7"), std::string::npos) << s.error_message();
}

TEST(ValidateCompressedProduce, EveryRecordLimitAppliesToTheRecordsInside) {
  auto with = [](auto change) {
    v1::RecordList list = SampleRecords(3);
    change(*list.mutable_records(1));
    return ValidateProduce(Compressed(list));
  };
  EXPECT_TRUE(RejectsField(with([](v1::Record& r) { r.set_value(std::string(Limits::kMaxRecordBytes, 'v')); }),
                           "compressed_records.records[1]"));
  EXPECT_TRUE(RejectsField(with([](v1::Record& r) { r.set_timestamp_ms(-1); }),
                           "compressed_records.records[1].timestamp_ms"));
  EXPECT_TRUE(RejectsField(with([](v1::Record& r) {
                             for (uint32_t i = 0; i < Limits::kMaxHeadersPerRecord; ++i)
                               r.add_headers()->set_key("h");
                           }),
                           "compressed_records.records[1].headers"));
  EXPECT_TRUE(RejectsField(with([](v1::Record& r) { r.mutable_headers(0)->clear_key(); }),
                           "compressed_records.records[1].headers[0].key"));
}

TEST(ValidateCompressedProduce, SequenceWithoutProducerIdIsStillRejected) {
  auto req = Compressed(SampleRecords(1));
  req.set_sequence(4);
  EXPECT_TRUE(RejectsField(ValidateProduce(req), "sequence"));
}

}  // namespace
}  // namespace brook::server
