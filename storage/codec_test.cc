#include "storage/codec.h"

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>

#include "gtest/gtest.h"

namespace brook::storage::codec {
namespace {

// The largest single operator new of this test binary since a test reset it (operator new is replaced below).
size_t largest_new = 0;

}  // namespace
}  // namespace brook::storage::codec

void* operator new(std::size_t size) {
  brook::storage::codec::largest_new = std::max(brook::storage::codec::largest_new, size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace brook::storage::codec {
namespace {

TEST(Codec, LogKeysSortByGroupThenIndex) {
  EXPECT_LT(LogKey(1, 500), LogKey(2, 1));
  EXPECT_LT(LogKey(2, 255), LogKey(2, 256));  // Big-endian: numeric order is byte order.
  EXPECT_LT(LogKey(2, UINT64_MAX), PrefixEnd(GroupPrefix(2)));
  raft::GroupId g;
  raft::Index i;
  ASSERT_TRUE(ParseLogKey(LogKey(7, 42), &g, &i));
  EXPECT_EQ(g, 7u);
  EXPECT_EQ(i, 42u);
  EXPECT_FALSE(ParseLogKey("short", &g, &i));
}

TEST(Codec, TimeKeysSortNegativeTimesFirst) {
  EXPECT_LT(TimeKey(1, -5, 9), TimeKey(1, 0, 1));
  EXPECT_LT(TimeKey(1, 0, 1), TimeKey(1, 1, 0));
  EXPECT_LT(TimeKey(1, 100, 1), TimeKey(1, 100, 2));
  int64_t ts;
  raft::Index i;
  ASSERT_TRUE(ParseTimeKey(TimeKey(3, -77, 12), &ts, &i));
  EXPECT_EQ(ts, -77);
  EXPECT_EQ(i, 12u);
}

TEST(Codec, PrefixEndIsTheNextPrefix) {
  EXPECT_EQ(PrefixEnd(std::string("ab")), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff")), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff")), "");
}

TEST(Codec, SealedValueDetectsFlipsAndWrongKey) {
  const std::string v = Seal("key", "payload");
  ASSERT_TRUE(Unseal("key", v).ok());
  EXPECT_EQ(*Unseal("key", v), "payload");
  EXPECT_EQ(Unseal("other", v).status().code(), absl::StatusCode::kDataLoss);
  for (size_t i = 0; i < v.size(); ++i) {
    std::string bad = v;
    bad[i] ^= 1;
    EXPECT_EQ(Unseal("key", bad).status().code(), absl::StatusCode::kDataLoss) << "flip at byte " << i;
  }
  EXPECT_EQ(Unseal("key", "ab").status().code(), absl::StatusCode::kDataLoss);
}

TEST(Codec, EntryRoundTrip) {
  raft::Entry e{.index = 9,
                .term = 3,
                .type = raft::EntryType::kNormal,
                .base_offset = 100,
                .record_count = 5,
                .data = "records"};
  const std::string key = LogKey(4, 9);
  char header[kEntryHeaderSize];
  EncodeEntryHeader(key, e, -12, 999, header);
  const std::string value = std::string(header, sizeof(header)) + std::string(e.data.view());
  absl::StatusOr<StoredEntry> d = DecodeEntry(key, value);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->entry, e);
  EXPECT_EQ(d->timestamp_ms, -12);
  EXPECT_EQ(d->cum_bytes, 999u);
  EXPECT_EQ(d->value_size, value.size());
  absl::StatusOr<StoredEntry> no_data = DecodeEntry(key, value, false);
  ASSERT_TRUE(no_data.ok());
  EXPECT_TRUE(no_data->entry.data.empty());
  EXPECT_EQ(DecodeEntry(LogKey(4, 10), value).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeEntry(key, value.substr(0, 20)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(Codec, StateRoundTrips) {
  raft::HardState hs{.term = 5, .vote = 2, .commit = 77};
  EXPECT_EQ(*DecodeHardState(EncodeHardState(hs)), hs);
  raft::SnapshotMeta m{.index = 10, .term = 2, .next_offset = 55, .conf = {{1, 2, 3}, {4}, {}}};
  EXPECT_EQ(*DecodeSnapshotMeta(EncodeSnapshotMeta(m)), m);
  ApplyState a{.applied_index = 12, .conf = {{1, 2}, {}, {1, 3}}};
  EXPECT_EQ(*DecodeApplyState(EncodeApplyState(a)), a);
  EXPECT_FALSE(DecodeHardState("short").ok());
  EXPECT_FALSE(DecodeSnapshotMeta(EncodeSnapshotMeta(m) + "x").ok());
  std::string huge_count = EncodeApplyState(a);
  huge_count[8] = '\xff';
  huge_count[9] = '\xff';
  huge_count[10] = '\xff';
  EXPECT_FALSE(DecodeApplyState(huge_count).ok());
}

// Found by tests/fuzz/fuzz_storage_codec: a count of 65,536 voters with no ids behind it allocated 512 KiB before
// the decoder noticed the payload was short. A count the bytes cannot hold is refused first.
TEST(Codec, NodeCountBeyondThePayloadAllocatesNothingForIt) {
  std::string payload(8, '\0');                        // applied index
  payload.append(std::string("\x00\x00\x01\x00", 4));  // 65,536 voters, and no ids
  largest_new = 0;
  EXPECT_EQ(DecodeApplyState(payload).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_LT(largest_new, 1024u) << "decoding allocated room for voters the payload does not hold";
  raft::SnapshotMeta m{.index = 1, .term = 1, .next_offset = 0, .conf = {{1, 2, 3}, {}, {}}};
  std::string meta = EncodeSnapshotMeta(m);
  meta.resize(meta.size() - 8);  // the last voter's id is missing
  largest_new = 0;
  EXPECT_EQ(DecodeSnapshotMeta(meta).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_LT(largest_new, 1024u);
}

}  // namespace
}  // namespace brook::storage::codec
