// Plain value types shared by the Raft core (raft/) and the node's storage (storage/).
//
// These types carry no behaviour and no I/O. storage/ may depend on this header and nothing else in raft/
// (the layout rule of docs/architecture.md). Everything here is cheap to copy; Entry::data shares its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brook::raft {

using NodeId = uint64_t;   // 0 means "no node" (for example: no vote cast, leader unknown).
using GroupId = uint64_t;  // Group 0 is the cluster metadata group; partitions use ids >= 1.
using Term = uint64_t;
using Index = uint64_t;   // Log indexes start at 1; index 0 is the empty log's sentinel.
using Offset = uint64_t;  // Record offsets within a partition: dense, starting at 0.

inline constexpr NodeId kNoNode = 0;

// A Raft node's role in its group (raft.h). A learner is a follower that never campaigns.
enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };

enum class EntryType : uint8_t {
  kNormal = 0,      // Host payload: for a partition, one encoded record batch.
  kNoop = 1,        // Appended by a new leader for its own term; carries no records.
  kConfChange = 2,  // Membership change; `data` is an encoded raft::ConfChange.
};

// The payload of a log entry: immutable bytes shared by every copy of the entry. One Produce's records are held
// once from the moment the leader appends them until the last holder (unstable log, a Ready, the recent entries,
// a message to a follower) lets go, so copying an Entry costs a reference count, not its bytes
// (docs/performance.md, "Shared entry data").
class EntryData {
 public:
  EntryData() = default;
  EntryData(std::string bytes)  // NOLINT(google-explicit-constructor): entries are built from strings everywhere.
      : bytes_(bytes.empty() ? nullptr : std::make_shared<std::string>(std::move(bytes))) {}
  EntryData(std::string_view bytes) : EntryData(std::string(bytes)) {}  // NOLINT(google-explicit-constructor)
  EntryData(const char* bytes) : EntryData(std::string(bytes)) {}       // NOLINT(google-explicit-constructor)

  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  const char* data() const { return view().data(); }
  size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }

  // The bytes as a string of the caller's own: moved out when this is their only holder, copied otherwise.
  std::string Release() && {
    if (!bytes_) return {};
    std::string out = bytes_.use_count() == 1 ? std::move(*bytes_) : *bytes_;
    bytes_.reset();
    return out;
  }

  friend bool operator==(const EntryData& a, const EntryData& b) { return a.view() == b.view(); }
  friend bool operator==(const EntryData& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const EntryData& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const EntryData& a, const char* b) { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& os, const EntryData& d) { return os << d.view(); }

 private:
  std::shared_ptr<std::string> bytes_;  // Null for no bytes. Never changed once shared.
};

// One Raft log entry.
//
// Offsets (docs/decisions.md D3): every entry covers the record offsets
// [base_offset, base_offset + record_count). The leader stamps base_offset when it appends the entry to its own
// log: base_offset = previous entry's base_offset + previous entry's record_count. By log matching, every replica
// that holds the entry holds the same base_offset, so offsets are a function of the log prefix. Only kNormal
// entries may have record_count > 0.
struct Entry {
  Index index = 0;
  Term term = 0;
  EntryType type = EntryType::kNormal;
  Offset base_offset = 0;
  uint32_t record_count = 0;
  EntryData data;  // Opaque to Raft.

  Offset end_offset() const { return base_offset + record_count; }
  friend bool operator==(const Entry&, const Entry&) = default;
};

// What a node must have durable before it answers a vote or acknowledges an append (the persistence contract in
// raft/README.md). `commit` is persisted for faster recovery only; losing it is safe.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  friend bool operator==(const HardState&, const HardState&) = default;
};

// The membership of a group. During a joint-consensus change, `voters_outgoing` is non-empty and decisions need a
// majority of `voters` and of `voters_outgoing`.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  std::vector<NodeId> voters_outgoing;
  friend bool operator==(const ConfState&, const ConfState&) = default;
};

// Where a group's log starts after its prefix was dropped (log compaction or retention). The entry at `index` is
// gone; the next entry is index + 1 and its base_offset is `next_offset`.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  Offset next_offset = 0;
  ConfState conf;
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

}  // namespace brook::raft
