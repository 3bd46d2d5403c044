// Byte layout of everything Brook keeps in RocksDB: keys (big-endian, so a group's keys form one sorted range)
// and values (a version byte and a CRC-32C in front of every value). storage/README.md draws the same layout.
//
// Pure functions: no I/O, thread-safe. Decoders never trust their input: short, unknown-version or corrupt bytes
// give absl::DataLossError (the caller adds which group, index and key), never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace brook::storage {

// The host state machine's progress, persisted atomically with the entries it applied (see GroupWrite).
struct ApplyState {
  raft::Index applied_index = 0;
  raft::ConfState conf = {};  // The membership as of applied_index.
  friend bool operator==(const ApplyState&, const ApplyState&) = default;
};

namespace codec {

// ---- Keys ------------------------------------------------------------------------------------------------------
//
// log CF:   [group u64][index u64]                        -> entry value
// index CF: [group u64]'o'[base_offset u64]               -> offset index value (sparse: see
//                                                            Options::index_interval_bytes)
//           [group u64]'t'[timestamp u64*][index u64]      -> time index value (first entry of each timestamp)
// state CF: [group u64]'s'                                -> log start (SnapshotMeta); present for every group
//           [group u64]'h'                                -> HardState
//           [group u64]'a'                                -> ApplyState
//           [group u64]'k'[user key bytes]                -> group state machine value
// default CF: [node meta key bytes]                       -> node meta value
// All integers big-endian. (*) timestamp_ms with its sign bit flipped, so negative times sort first.

inline constexpr char kOffsetTag = 'o';
inline constexpr char kTimeTag = 't';
inline constexpr char kLogStartTag = 's';
inline constexpr char kHardStateTag = 'h';
inline constexpr char kApplyStateTag = 'a';
inline constexpr char kUserStateTag = 'k';

void AppendBE64(std::string* out, uint64_t v);
uint64_t LoadBE64(const char* p);

std::string GroupPrefix(raft::GroupId group);  // 8 bytes: every key of the group, in every CF, starts with it.
// The smallest key greater than every key that starts with `prefix` ("" if none: the prefix is all 0xFF).
std::string PrefixEnd(std::string_view prefix);

inline constexpr size_t kLogKeySize = 16;
std::string LogKey(raft::GroupId group, raft::Index index);
void EncodeLogKey(raft::GroupId group, raft::Index index, char (&out)[kLogKeySize]);  // No allocation.
// Returns false unless `key` is a 16-byte log key.
bool ParseLogKey(std::string_view key, raft::GroupId* group, raft::Index* index);

std::string OffsetKey(raft::GroupId group, raft::Offset base_offset);
std::string OffsetKeyPrefix(raft::GroupId group);
bool ParseOffsetKey(std::string_view key, raft::Offset* base_offset);

std::string TimeKey(raft::GroupId group, int64_t timestamp_ms, raft::Index index);
std::string TimeKeyPrefix(raft::GroupId group);
bool ParseTimeKey(std::string_view key, int64_t* timestamp_ms, raft::Index* index);

std::string StateKey(raft::GroupId group, char tag, std::string_view suffix = {});
// For a state CF key: its group and tag. Returns false if the key is shorter than 9 bytes.
bool ParseStateKey(std::string_view key, raft::GroupId* group, char* tag);

std::string Hex(std::string_view bytes);  // "0x0000000000000007..." for error messages.

// ---- Value envelope --------------------------------------------------------------------------------------------
//
// value = [version u8 = 1][crc u32 LE][payload]
// crc = CRC-32C over key ++ version ++ payload. Covering the key means a value that lands under the wrong key is
// caught as surely as a flipped bit.
inline constexpr uint8_t kValueVersion = 1;
inline constexpr size_t kEnvelopeSize = 5;

std::string Seal(std::string_view key, std::string_view payload);
// The payload of a sealed value, borrowed from `value`; DataLossError if short, unknown version or CRC mismatch.
absl::StatusOr<std::string_view> Unseal(std::string_view key, std::string_view value);

// ---- Log entry values ------------------------------------------------------------------------------------------
//
// payload = term u64, type u8, base_offset u64, record_count u32, timestamp_ms i64, cum_bytes u64 (all LE), data.
// The entry's index is its key. timestamp_ms is what Options::entry_timestamp_ms said (entries without records
// carry the previous entry's). cum_bytes is the group's running total of stored value bytes up to and including
// this entry, as appended; the size-retention cut is a binary search over it. Store::RewriteEntries (key
// compaction) keeps an entry's cum_bytes, so after a rewrite it counts the bytes the entries had when appended,
// not what they hold now (the entry's own value_size is what it holds now).
inline constexpr size_t kEntryHeaderSize = kEnvelopeSize + 8 + 1 + 8 + 4 + 8 + 8;

struct StoredEntry {
  raft::Entry entry;
  int64_t timestamp_ms = 0;
  uint64_t cum_bytes = 0;
  uint64_t value_size = 0;  // Stored bytes of the value (header + data), whether or not data was copied.
};

// Writes the envelope and fixed fields of `entry`'s value into `header`; the value is header ++ entry.data
// (written as two slices so the data is copied once, into the WriteBatch).
void EncodeEntryHeader(std::string_view key, const raft::Entry& entry, int64_t timestamp_ms, uint64_t cum_bytes,
                       char (&header)[kEntryHeaderSize]);
// Stored size of an entry's value.
inline uint64_t EntryValueSize(const raft::Entry& e) { return kEntryHeaderSize + e.data.size(); }
// Decodes (and checks) an entry value. With `with_data` false the data is checked but not copied.
absl::StatusOr<StoredEntry> DecodeEntry(std::string_view key, std::string_view value, bool with_data = true);

// ---- Other values (payloads, sealed with Seal) -----------------------------------------------------------------

std::string EncodeHardState(const raft::HardState& hs);
absl::StatusOr<raft::HardState> DecodeHardState(std::string_view payload);

std::string EncodeSnapshotMeta(const raft::SnapshotMeta& meta);
absl::StatusOr<raft::SnapshotMeta> DecodeSnapshotMeta(std::string_view payload);

std::string EncodeApplyState(const ApplyState& state);
absl::StatusOr<ApplyState> DecodeApplyState(std::string_view payload);

// Offset index: the entry holding offsets [base_offset, base_offset + record_count).
struct OffsetIndexValue {
  raft::Index index = 0;
  uint32_t record_count = 0;
};
std::string EncodeOffsetIndexValue(const OffsetIndexValue& v);
absl::StatusOr<OffsetIndexValue> DecodeOffsetIndexValue(std::string_view payload);

// Time index: the base offset of the first entry with that timestamp.
std::string EncodeTimeIndexValue(raft::Offset base_offset);
absl::StatusOr<raft::Offset> DecodeTimeIndexValue(std::string_view payload);

}  // namespace codec
}  // namespace brook::storage
