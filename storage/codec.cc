#include "storage/codec.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"

namespace brook::storage::codec {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

void AppendLE64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
void AppendLE32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
void StoreLE64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void StoreLE32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// Reads little-endian fields from a payload; any read past the end marks it failed (checked once at the end).
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint64_t U64() { return Fixed(8); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  std::string_view Rest() {
    std::string_view r = in_;
    in_ = {};
    return r;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  uint64_t Fixed(size_t n) {
    if (in_.size() < n) {
      ok_ = false;
      in_ = {};
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(in_[i])} << (8 * i);
    in_.remove_prefix(n);
    return v;
  }
  std::string_view in_;
  bool ok_ = true;
};

void AppendNodes(std::string* out, const std::vector<raft::NodeId>& nodes) {
  AppendLE32(out, static_cast<uint32_t>(nodes.size()));
  for (raft::NodeId n : nodes) AppendLE64(out, n);
}
bool ReadNodes(Reader* r, std::vector<raft::NodeId>* nodes) {
  const uint32_t n = r->U32();
  // A membership is a handful of nodes: a huge count, or one the remaining bytes cannot hold, is garbage (and is
  // refused before room for it is allocated).
  if (!r->ok() || n > (1u << 16) || n > r->remaining() / 8) return false;
  nodes->resize(n);
  for (auto& id : *nodes) id = r->U64();
  return r->ok();
}
void AppendConf(std::string* out, const raft::ConfState& c) {
  AppendNodes(out, c.voters);
  AppendNodes(out, c.learners);
  AppendNodes(out, c.voters_outgoing);
}
bool ReadConf(Reader* r, raft::ConfState* c) {
  return ReadNodes(r, &c->voters) && ReadNodes(r, &c->learners) && ReadNodes(r, &c->voters_outgoing);
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed ", std::string(what)));
}

uint32_t ValueCrc(std::string_view key, uint8_t version, std::string_view payload) {
  const char v = static_cast<char>(version);
  return Crc32cExtend(Crc32cExtend(Crc32c(key), std::string_view(&v, 1)), payload);
}

}  // namespace

void AppendBE64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (56 - 8 * i));
  out->append(b, 8);
}

uint64_t LoadBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string GroupPrefix(raft::GroupId group) {
  std::string k;
  AppendBE64(&k, group);
  return k;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xFF) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::string LogKey(raft::GroupId group, raft::Index index) {
  std::string k;
  k.reserve(kLogKeySize);
  AppendBE64(&k, group);
  AppendBE64(&k, index);
  return k;
}

void EncodeLogKey(raft::GroupId group, raft::Index index, char (&out)[kLogKeySize]) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(group >> (56 - 8 * i));
    out[8 + i] = static_cast<char>(index >> (56 - 8 * i));
  }
}

bool ParseLogKey(std::string_view key, raft::GroupId* group, raft::Index* index) {
  if (key.size() != kLogKeySize) return false;
  *group = LoadBE64(key.data());
  *index = LoadBE64(key.data() + 8);
  return true;
}

std::string OffsetKeyPrefix(raft::GroupId group) {
  std::string k = GroupPrefix(group);
  k.push_back(kOffsetTag);
  return k;
}

std::string OffsetKey(raft::GroupId group, raft::Offset base_offset) {
  std::string k = OffsetKeyPrefix(group);
  AppendBE64(&k, base_offset);
  return k;
}

bool ParseOffsetKey(std::string_view key, raft::Offset* base_offset) {
  if (key.size() != 17 || key[8] != kOffsetTag) return false;
  *base_offset = LoadBE64(key.data() + 9);
  return true;
}

std::string TimeKeyPrefix(raft::GroupId group) {
  std::string k = GroupPrefix(group);
  k.push_back(kTimeTag);
  return k;
}

std::string TimeKey(raft::GroupId group, int64_t timestamp_ms, raft::Index index) {
  std::string k = TimeKeyPrefix(group);
  AppendBE64(&k, static_cast<uint64_t>(timestamp_ms) ^ kSignBit);
  AppendBE64(&k, index);
  return k;
}

bool ParseTimeKey(std::string_view key, int64_t* timestamp_ms, raft::Index* index) {
  if (key.size() != 25 || key[8] != kTimeTag) return false;
  *timestamp_ms = static_cast<int64_t>(LoadBE64(key.data() + 9) ^ kSignBit);
  *index = LoadBE64(key.data() + 17);
  return true;
}

std::string StateKey(raft::GroupId group, char tag, std::string_view suffix) {
  std::string k = GroupPrefix(group);
  k.push_back(tag);
  k.append(suffix);
  return k;
}

bool ParseStateKey(std::string_view key, raft::GroupId* group, char* tag) {
  if (key.size() < 9) return false;
  *group = LoadBE64(key.data());
  *tag = key[8];
  return true;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::string Seal(std::string_view key, std::string_view payload) {
  std::string v;
  v.reserve(kEnvelopeSize + payload.size());
  v.push_back(static_cast<char>(kValueVersion));
  AppendLE32(&v, ValueCrc(key, kValueVersion, payload));
  v.append(payload);
  return v;
}

absl::StatusOr<std::string_view> Unseal(std::string_view key, std::string_view value) {
  if (value.size() < kEnvelopeSize) {
    return absl::DataLossError(absl::StrCat("value too short (", value.size(), " bytes)"));
  }
  const uint8_t version = static_cast<uint8_t>(value[0]);
  if (version != kValueVersion) {
    return absl::DataLossError(absl::StrCat("unknown value version ", version));
  }
  Reader r(value.substr(1, 4));
  const uint32_t stored = r.U32();
  std::string_view payload = value.substr(kEnvelopeSize);
  const uint32_t actual = ValueCrc(key, version, payload);
  if (stored != actual) {
    return absl::DataLossError(absl::StrCat("CRC-32C mismatch (stored ", absl::Hex(stored, absl::kZeroPad8),
                                            ", computed ", absl::Hex(actual, absl::kZeroPad8), ")"));
  }
  return payload;
}

void EncodeEntryHeader(std::string_view key, const raft::Entry& entry, int64_t timestamp_ms, uint64_t cum_bytes,
                       char (&header)[kEntryHeaderSize]) {
  char* p = header + kEnvelopeSize;
  StoreLE64(p, entry.term);
  p[8] = static_cast<char>(entry.type);
  StoreLE64(p + 9, entry.base_offset);
  StoreLE32(p + 17, entry.record_count);
  StoreLE64(p + 21, static_cast<uint64_t>(timestamp_ms));
  StoreLE64(p + 29, cum_bytes);
  header[0] = static_cast<char>(kValueVersion);
  const uint32_t crc = Crc32cExtend(
      ValueCrc(key, kValueVersion, std::string_view(header + kEnvelopeSize, kEntryHeaderSize - kEnvelopeSize)),
      entry.data);
  StoreLE32(header + 1, crc);
}

absl::StatusOr<StoredEntry> DecodeEntry(std::string_view key, std::string_view value, bool with_data) {
  absl::StatusOr<std::string_view> payload = Unseal(key, value);
  if (!payload.ok()) return payload.status();
  Reader r(*payload);
  StoredEntry out;
  out.value_size = value.size();
  raft::GroupId group;
  if (!ParseLogKey(key, &group, &out.entry.index)) return Malformed("log key");
  out.entry.term = r.U64();
  const uint8_t type = r.U8();
  out.entry.base_offset = r.U64();
  out.entry.record_count = r.U32();
  out.timestamp_ms = static_cast<int64_t>(r.U64());
  out.cum_bytes = r.U64();
  if (!r.ok()) return Malformed("entry header");
  if (type > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    return absl::DataLossError(absl::StrCat("unknown entry type ", type));
  }
  out.entry.type = static_cast<raft::EntryType>(type);
  if (with_data) out.entry.data = std::string(r.Rest());
  return out;
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string p;
  AppendLE64(&p, hs.term);
  AppendLE64(&p, hs.vote);
  AppendLE64(&p, hs.commit);
  return p;
}

absl::StatusOr<raft::HardState> DecodeHardState(std::string_view payload) {
  Reader r(payload);
  raft::HardState hs;
  hs.term = r.U64();
  hs.vote = r.U64();
  hs.commit = r.U64();
  if (!r.done()) return Malformed("hard state");
  return hs;
}

std::string EncodeSnapshotMeta(const raft::SnapshotMeta& meta) {
  std::string p;
  AppendLE64(&p, meta.index);
  AppendLE64(&p, meta.term);
  AppendLE64(&p, meta.next_offset);
  AppendConf(&p, meta.conf);
  return p;
}

absl::StatusOr<raft::SnapshotMeta> DecodeSnapshotMeta(std::string_view payload) {
  Reader r(payload);
  raft::SnapshotMeta m;
  m.index = r.U64();
  m.term = r.U64();
  m.next_offset = r.U64();
  if (!ReadConf(&r, &m.conf) || !r.done()) return Malformed("log start (snapshot meta)");
  return m;
}

std::string EncodeApplyState(const ApplyState& state) {
  std::string p;
  AppendLE64(&p, state.applied_index);
  AppendConf(&p, state.conf);
  return p;
}

absl::StatusOr<ApplyState> DecodeApplyState(std::string_view payload) {
  Reader r(payload);
  ApplyState s;
  s.applied_index = r.U64();
  if (!ReadConf(&r, &s.conf) || !r.done()) return Malformed("apply state");
  return s;
}

std::string EncodeOffsetIndexValue(const OffsetIndexValue& v) {
  std::string p;
  AppendLE64(&p, v.index);
  AppendLE32(&p, v.record_count);
  return p;
}

absl::StatusOr<OffsetIndexValue> DecodeOffsetIndexValue(std::string_view payload) {
  Reader r(payload);
  OffsetIndexValue v;
  v.index = r.U64();
  v.record_count = r.U32();
  if (!r.done()) return Malformed("offset index value");
  return v;
}

std::string EncodeTimeIndexValue(raft::Offset base_offset) {
  std::string p;
  AppendLE64(&p, base_offset);
  return p;
}

absl::StatusOr<raft::Offset> DecodeTimeIndexValue(std::string_view payload) {
  Reader r(payload);
  const raft::Offset o = r.U64();
  if (!r.done()) return Malformed("time index value");
  return o;
}

}  // namespace brook::storage::codec
