// The read path over a real store holding plain, LZ4 and Zstandard batches: readers that accept compressed
// batches get them whole and as stored (also from the middle of one), others get every record decompressed; the
// limits count stored bytes; the watermark holds; damaged compressed bytes are DATA_LOSS for a decompressing read.
#include "server/api/read_path.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/compression.h"
#include "server/codec/entry_codec.h"
#include "storage/crc32c.h"
#include "storage/test_util.h"

namespace brook::server {
namespace {

constexpr raft::GroupId kGroup = 5;
constexpr int64_t kAppendTime = 1'700'000'000'000;

// Record `offset` of the test log: key, value and one header derived from the offset.
v1::Record RecordAt(uint64_t offset) {
  v1::Record r;
  r.set_key("k" + std::to_string(offset));
  r.set_value("value of record " + std::to_string(offset) + " " + std::string(offset % 7 * 10, 'z'));
  if (offset % 2 == 0) r.set_timestamp_ms(1'000 + static_cast<int64_t>(offset));
  auto* h = r.add_headers();
  h->set_key("n");
  h->set_value(std::to_string(offset));
  return r;
}

class ReadPathTest : public ::testing::Test {
 protected:
  ReadPathTest() : dir_("read-path-test"), view_(kGroup, "orders", 0, 1) {
    storage::Options options;
    options.sync = false;
    store_ = *storage::Store::Open(dir_.path(), options);
    // Offsets 0-2 plain, 3-7 LZ4, 8-9 plain, 10-13 Zstandard.
    Append(v1::COMPRESSION_NONE, 3);
    Append(v1::COMPRESSION_LZ4, 5);
    Append(v1::COMPRESSION_NONE, 2);
    Append(v1::COMPRESSION_ZSTD, 4);
    view_.Publish(index_, offset_, 0, 1, 1);
  }

  // Appends one committed entry of `count` records, compressed with `codec`, as the leader would store it.
  void Append(v1::Compression codec, uint32_t count, std::optional<std::string> bytes = std::nullopt) {
    v1::ProduceRequest req;
    req.set_topic("orders");
    v1::RecordList list;
    for (uint32_t i = 0; i < count; ++i) *list.add_records() = RecordAt(offset_ + i);
    uint32_t uncompressed = 0;
    if (codec == v1::COMPRESSION_NONE) {
      *req.mutable_records() = list.records();
    } else {
      const std::string plain = list.SerializeAsString();
      uncompressed = static_cast<uint32_t>(plain.size());
      req.set_compression(codec);
      req.set_compressed_records(bytes ? *bytes : *Compress(codec, plain));
      req.set_record_count(count);
      req.set_compressed_crc32c(storage::Crc32c(req.compressed_records()));
      stored_[offset_] = req;
    }
    raft::Entry e;
    e.index = ++index_;
    e.term = 1;
    e.base_offset = offset_;
    e.record_count = count;
    std::string data = EncodeRecordBatch(req, uncompressed);
    StampAppendTime(data, kAppendTime + static_cast<int64_t>(index_));
    e.data = std::move(data);
    storage::GroupWrite w{.group = kGroup};
    w.entries.push_back(std::move(e));
    ASSERT_TRUE(store_->Write({&w, 1}).ok());
    offset_ += count;
  }

  v1::FetchResponse Read(uint64_t offset, bool accept_compressed, uint32_t max_records = 0,
                         uint32_t max_bytes = 0) {
    v1::FetchResponse out;
    auto s = ReadRecords(*store_, view_, {offset, max_records, max_bytes, accept_compressed}, 1, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static void ExpectRecord(const v1::StoredRecord& r, uint64_t offset) {
    const v1::Record want = RecordAt(offset);
    EXPECT_EQ(r.offset(), offset);
    EXPECT_EQ(r.key(), want.key()) << "offset " << offset;
    EXPECT_EQ(r.value(), want.value()) << "offset " << offset;
    ASSERT_EQ(r.headers_size(), 1) << "offset " << offset;
    EXPECT_EQ(r.headers(0).value(), want.headers(0).value());
    EXPECT_EQ(r.timestamp_ms(), want.timestamp_ms() != 0 ? want.timestamp_ms() : r.append_time_ms());
  }

  // Checks a served batch against what the producer sent for the batch at `base`.
  void ExpectBatch(const v1::CompressedBatch& b, uint64_t base, uint32_t count) {
    const v1::ProduceRequest& sent = stored_.at(base);
    EXPECT_EQ(b.base_offset(), base);
    EXPECT_EQ(b.record_count(), count);
    EXPECT_EQ(b.compression(), sent.compression());
    EXPECT_EQ(b.data(), sent.compressed_records()) << "a batch is served byte for byte as the producer sent it";
    EXPECT_EQ(b.crc32c(), sent.compressed_crc32c());
    auto plain = Decompress(b.compression(), b.data(), b.uncompressed_bytes());
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(plain->size(), b.uncompressed_bytes());
    v1::RecordList list;
    ASSERT_TRUE(list.ParseFromString(*plain));
    ASSERT_EQ(list.records_size(), static_cast<int>(count));
    EXPECT_EQ(list.records(0).key(), RecordAt(base).key());
    EXPECT_GT(b.append_time_ms(), kAppendTime);
  }

  storage::testing::ScopedDir dir_;
  std::unique_ptr<storage::Store> store_;
  PartitionView view_;
  raft::Index index_ = 0;
  uint64_t offset_ = 0;
  std::map<uint64_t, v1::ProduceRequest> stored_;  // compressed batches by base offset
};

TEST_F(ReadPathTest, AReaderThatDoesNotAcceptCompressionGetsEveryRecordDecompressed) {
  const auto out = Read(0, false);
  EXPECT_EQ(out.compressed_batches_size(), 0);
  ASSERT_EQ(out.records_size(), 14);
  for (int i = 0; i < 14; ++i) ExpectRecord(out.records(i), static_cast<uint64_t>(i));
  EXPECT_EQ(out.next_offset(), 14u);
  EXPECT_TRUE(HasData(out));
}

TEST_F(ReadPathTest, ADecompressingReadFromTheMiddleOfABatchStartsAtTheOffsetAsked) {
  const auto out = Read(5, false);
  ASSERT_EQ(out.records_size(), 9);
  for (int i = 0; i < 9; ++i) ExpectRecord(out.records(i), 5u + static_cast<uint64_t>(i));
}

TEST_F(ReadPathTest, AReaderThatAcceptsCompressionGetsBatchesAsStored) {
  const auto out = Read(0, true);
  ASSERT_EQ(out.records_size(), 5) << "the plain batches stay plain";
  for (int i = 0; i < 3; ++i) ExpectRecord(out.records(i), static_cast<uint64_t>(i));
  ExpectRecord(out.records(3), 8);
  ExpectRecord(out.records(4), 9);
  ASSERT_EQ(out.compressed_batches_size(), 2);
  ExpectBatch(out.compressed_batches(0), 3, 5);
  ExpectBatch(out.compressed_batches(1), 10, 4);
  EXPECT_EQ(out.next_offset(), 14u);
}

TEST_F(ReadPathTest, AReadFromTheMiddleOfACompressedBatchGetsTheWholeBatch) {
  const auto out = Read(5, true);
  ASSERT_EQ(out.compressed_batches_size(), 2);
  ExpectBatch(out.compressed_batches(0), 3, 5);  // starts below the offset asked: the reader skips 3 and 4
  ASSERT_EQ(out.records_size(), 2);
  ExpectRecord(out.records(0), 8);
  EXPECT_EQ(out.next_offset(), 14u);
  const auto last = Read(13, true);
  ASSERT_EQ(last.compressed_batches_size(), 1);
  ExpectBatch(last.compressed_batches(0), 10, 4);
  EXPECT_EQ(last.next_offset(), 14u);
}

TEST_F(ReadPathTest, LimitsCountStoredBytesAndWholeBatches) {
  // max_bytes of 1: the first batch is served all the same, nothing after it.
  auto out = Read(3, true, 0, 1);
  ASSERT_EQ(out.compressed_batches_size(), 1);
  EXPECT_EQ(out.records_size(), 0);
  EXPECT_EQ(out.next_offset(), 8u);
  // Room for exactly the batch's stored bytes plus nothing: the next plain record does not fit.
  const uint32_t stored = static_cast<uint32_t>(stored_.at(3).compressed_records().size());
  out = Read(3, true, 0, stored);
  EXPECT_EQ(out.compressed_batches_size(), 1);
  EXPECT_EQ(out.next_offset(), 8u);
  // Records: the batch counts 5, then one plain record fits in max_records = 6.
  out = Read(3, true, 6);
  ASSERT_EQ(out.compressed_batches_size(), 1);
  ASSERT_EQ(out.records_size(), 1);
  EXPECT_EQ(out.next_offset(), 9u);
  // A batch that would pass max_records after other records waits for the next read.
  out = Read(8, true, 3);
  EXPECT_EQ(out.records_size(), 2);
  EXPECT_EQ(out.compressed_batches_size(), 0);
  EXPECT_EQ(out.next_offset(), 10u);
}

TEST_F(ReadPathTest, NoBatchAtOrPastTheWatermarkIsServed) {
  view_.Publish(3, 10, 0, 1, 1);  // entry 4 (offsets 10-13) not committed here yet
  auto out = Read(5, true);
  ASSERT_EQ(out.compressed_batches_size(), 1);
  EXPECT_EQ(out.next_offset(), 10u);
  EXPECT_EQ(out.high_watermark(), 10u);
  out = Read(10, true);
  EXPECT_FALSE(HasData(out));
  EXPECT_EQ(out.next_offset(), 10u);
}

TEST_F(ReadPathTest, DamagedCompressedBytesAreDataLossForADecompressingReadAndServedAsIsOtherwise) {
  Append(v1::COMPRESSION_ZSTD, 2, std::string("these bytes are no zstd frame"));
  view_.Publish(index_, offset_, 0, 1, 1);
  v1::FetchResponse out;
  auto s = ReadRecords(*store_, view_, {14, 0, 0, false}, 1, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  // The reader that decompresses checks the bytes itself (the producer's CRC travels with them).
  out = Read(14, true);
  ASSERT_EQ(out.compressed_batches_size(), 1);
  EXPECT_EQ(out.compressed_batches(0).crc32c(), storage::Crc32c(out.compressed_batches(0).data()));
}

}  // namespace
}  // namespace brook::server
