// Every decoder of storage/codec.h on bytes as RocksDB could hand them back (a flipped bit, a truncated value, a
// value under the wrong key, a file from another version): the key parsers, the value envelope (Unseal) and every
// payload decoder. Payloads are also sealed under the key first, so the decoders behind the CRC are reached.
//
// Input (tests/fuzz/fuzz_util.h framing): Bytes key, Bytes value.
//
// Properties: no crash; no allocation beyond what the input can hold (AllocationBound: a count of nodes or a
// length read from the bytes is not trusted); what decodes encodes back to the same bytes.
#include <cstdint>
#include <string>

#include "storage/codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::storage::codec {
namespace {

using fuzz::Fail;

void ParseKeys(std::string_view key) {
  raft::GroupId group;
  raft::Index index;
  if (ParseLogKey(key, &group, &index) && LogKey(group, index) != key) Fail("a log key does not encode back");
  raft::Offset offset;
  if (ParseOffsetKey(key, &offset) && OffsetKey(LoadBE64(key.data()), offset) != key) {
    Fail("an offset key does not encode back");
  }
  int64_t timestamp;
  if (ParseTimeKey(key, &timestamp, &index) && TimeKey(LoadBE64(key.data()), timestamp, index) != key) {
    Fail("a time key does not encode back");
  }
  char tag;
  if (ParseStateKey(key, &group, &tag) && StateKey(group, tag, key.substr(9)) != key) {
    Fail("a state key does not encode back");
  }
  const std::string end = PrefixEnd(key);
  if (!end.empty() && end <= key) Fail("PrefixEnd is not past its prefix");
  if (Hex(key).size() != 2 + 2 * key.size()) Fail("Hex has the wrong length");
}

void DecodeEntries(std::string_view key, std::string_view value) {
  for (bool with_data : {true, false}) {
    auto e = DecodeEntry(key, value, with_data);
    if (!e.ok()) continue;
    if (!Unseal(key, value).ok()) Fail("an entry decoded from a value that does not unseal");
    if (!with_data) continue;
    char header[kEntryHeaderSize];
    EncodeEntryHeader(key, e->entry, e->timestamp_ms, e->cum_bytes, header);
    if (std::string(header, kEntryHeaderSize) + std::string(e->entry.data.view()) != value)
      Fail("an entry does not encode back");
  }
}

template <typename Decoded, typename Encode>
void RoundTrip(const absl::StatusOr<Decoded>& decoded, std::string_view payload, Encode encode, const char* what) {
  if (decoded.ok() && encode(*decoded) != payload) Fail(std::string(what) + " does not encode back");
}

void DecodePayloads(std::string_view p) {
  RoundTrip(DecodeHardState(p), p, EncodeHardState, "a hard state");
  RoundTrip(DecodeSnapshotMeta(p), p, EncodeSnapshotMeta, "a log start");
  RoundTrip(DecodeApplyState(p), p, EncodeApplyState, "an apply state");
  RoundTrip(DecodeOffsetIndexValue(p), p, EncodeOffsetIndexValue, "an offset index value");
  RoundTrip(DecodeTimeIndexValue(p), p, EncodeTimeIndexValue, "a time index value");
}

void FuzzOne(const uint8_t* data, size_t size) {
  fuzz::FrameReader in(data, size);
  const std::string_view key = in.Bytes();
  const std::string_view value = in.Bytes();
  ParseKeys(key);
  // The value as stored: envelope and entry.
  if (auto payload = Unseal(key, value); payload.ok()) DecodePayloads(*payload);
  DecodeEntries(key, value);
  // The value's bytes as a payload, sealed under the key, so the CRC does not stop the decoders.
  const std::string sealed = Seal(key, value);
  auto payload = Unseal(key, sealed);
  if (!payload.ok() || *payload != value) Fail("a sealed payload does not unseal to itself");
  DecodePayloads(value);
  DecodeEntries(key, sealed);
}

}  // namespace
}  // namespace brook::storage::codec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook::fuzz::AllocationBound bound(size);
  brook::storage::codec::FuzzOne(data, size);
  return 0;
}
