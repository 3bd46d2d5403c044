// Test support for the partition machine's tests: a leader-like log builder, a replica that persists its
// StateDelta like the host's storage batch, and a field-by-field state comparison.
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/compression.h"
#include "server/codec/entry_codec.h"
#include "server/machines/partition_machine.h"

namespace brook::server {

inline const char* VerdictName(PartitionMachine::Verdict v);
// So that gtest prints verdicts by name (found by argument-dependent lookup, hence outside the anonymous
// namespace).
inline void PrintTo(PartitionMachine::Verdict v, std::ostream* os) { *os << VerdictName(v); }

using Verdict = PartitionMachine::Verdict;

inline const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kNew:
      return "kNew";
    case Verdict::kDuplicate:
      return "kDuplicate";
    case Verdict::kInFlight:
      return "kInFlight";
    case Verdict::kSequenceGap:
      return "kSequenceGap";
    case Verdict::kSequenceReused:
      return "kSequenceReused";
    case Verdict::kFenced:
      return "kFenced";
    case Verdict::kUnknownProducer:
      return "kUnknownProducer";
  }
  return "?";
}

namespace testing {

// The records a producer sends as (producer_id, epoch, sequence, count): the same every time, so that a retry
// built again carries the same body (and body CRC) as the batch first written.
inline v1::ProduceRequest BatchRequest(uint64_t producer_id, uint64_t sequence, uint32_t count,
                                       uint32_t epoch = 0) {
  v1::ProduceRequest req;
  req.set_topic("orders");
  req.set_producer_id(producer_id);
  req.set_producer_epoch(epoch);
  req.set_sequence(sequence);
  for (uint32_t i = 0; i < count; ++i) {
    auto* r = req.add_records();
    r->set_key("k" + std::to_string(i));
    r->set_value("p" + std::to_string(producer_id) + "-s" + std::to_string(sequence + i));
  }
  return req;
}

// The key CheckProduce sees for that batch; `other_records` changes its content (not its sequence or count).
inline PartitionMachine::ProduceKey Key(uint64_t producer_id, uint64_t sequence, uint32_t count,
                                        uint32_t epoch = 0, bool other_records = false) {
  auto req = BatchRequest(producer_id, sequence, count, epoch);
  if (other_records) req.mutable_records(0)->set_value("something else");
  return PartitionMachine::ProduceKey{producer_id, epoch, sequence, count, EntryBodyCrc(EncodeRecordBatch(req))};
}

// The partition's Raft log as a leader would build it: indexes from 1, dense offsets, append times that advance
// by one ms per entry unless the test pins them.
class LogBuilder {
 public:
  raft::Entry Produce(uint64_t producer_id, uint64_t sequence, uint32_t count, raft::Term term = 1,
                      uint32_t epoch = 0) {
    return Next(EncodeRecordBatch(BatchRequest(producer_id, sequence, count, epoch)), count, term);
  }

  // A compressed batch of `count` records as the leader stores it. `data` replaces the compressed bytes (e.g. with
  // bytes that do not decompress, to show that applying never decompresses).
  raft::Entry ProduceCompressed(uint64_t producer_id, uint64_t sequence, uint32_t count,
                                std::optional<std::string> data = std::nullopt) {
    v1::RecordList list;
    for (uint32_t i = 0; i < count; ++i) list.add_records()->set_value("value-" + std::to_string(next_offset + i));
    const std::string plain = list.SerializeAsString();
    v1::ProduceRequest req;
    req.set_topic("orders");
    req.set_producer_id(producer_id);
    req.set_sequence(sequence);
    req.set_compression(v1::COMPRESSION_ZSTD);
    req.set_compressed_records(data ? *data : *Compress(v1::COMPRESSION_ZSTD, plain));
    req.set_record_count(count);
    req.set_compressed_crc32c(0x12345678);
    return Next(EncodeRecordBatch(req, static_cast<uint32_t>(plain.size())), count, 1);
  }

  raft::Entry Commit(const std::string& group, uint64_t offset, const std::string& metadata = "") {
    internal::OffsetCommit c;
    c.set_group(group);
    c.set_offset(offset);
    c.set_metadata(metadata);
    return Next(EncodeOffsetCommit(c), 0, 1);
  }

  raft::Entry Group(const internal::GroupCommand& command) { return Next(EncodeGroupCommand(command), 0, 1); }

  raft::Index next_index = 1;
  raft::Offset next_offset = 0;
  int64_t now_ms = 1'000;
  bool advance_time = true;

 private:
  raft::Entry Next(std::string data, uint32_t count, raft::Term term) {
    StampAppendTime(data, now_ms);
    if (advance_time) ++now_ms;
    raft::Entry e;
    e.index = next_index++;
    e.term = term;
    e.base_offset = next_offset;
    e.record_count = count;
    e.data = std::move(data);
    next_offset += count;
    return e;
  }
};

// One replica: the machine and the key/values it persisted, kept the way the host's storage batch applies a
// StateDelta (storage/store.cc: deletes, then puts).
struct Replica {
  absl::StatusOr<PartitionMachine::Applied> Apply(const raft::Entry& e) {
    StateDelta delta;
    auto out = machine.Apply(e, &delta);
    if (out.ok()) Persist(delta);
    return out;
  }
  void ApplyAll(const std::vector<raft::Entry>& entries) {
    for (const auto& e : entries) {
      auto applied = Apply(e);
      ASSERT_TRUE(applied.ok()) << "entry " << e.index << ": " << applied.status();
    }
  }
  // As the host applies one turn's committed entries: all into one StateDelta, persisted once.
  void ApplyTurn(const std::vector<raft::Entry>& entries) {
    StateDelta delta;
    for (const auto& e : entries) {
      auto applied = machine.Apply(e, &delta);
      ASSERT_TRUE(applied.ok()) << "entry " << e.index << ": " << applied.status();
    }
    Persist(delta);
  }
  void Persist(const StateDelta& delta) {
    for (const auto& k : delta.deletes) stored.erase(k);
    for (const auto& [k, v] : delta.puts) stored[k] = v;
  }
  // A restart: a fresh machine loaded from what was persisted.
  PartitionMachine Reloaded() const {
    PartitionMachine m;
    std::vector<std::pair<std::string, std::string>> state(stored.begin(), stored.end());
    auto s = m.Load(state, {machine.applied_index(), machine.end_offset()});
    EXPECT_TRUE(s.ok()) << s;
    return m;
  }

  PartitionMachine machine;
  std::map<std::string, std::string> stored;
};

// Producer tables and group offsets compared field by field (their protos hold no maps, so serialization is
// deterministic).
inline void ExpectSameState(const PartitionMachine& want, const PartitionMachine& got, const std::string& what) {
  ASSERT_EQ(want.producers().size(), got.producers().size()) << what << ": producer count";
  for (const auto& [id, p] : want.producers()) {
    auto it = got.producers().find(id);
    ASSERT_NE(it, got.producers().end()) << what << ": producer " << id << " missing";
    EXPECT_EQ(p.SerializeAsString(), it->second.SerializeAsString())
        << what << ": producer " << id << " differs:\nwant " << p.ShortDebugString() << "\ngot  "
        << it->second.ShortDebugString();
  }
  ASSERT_EQ(want.groups().size(), got.groups().size()) << what << ": group count";
  for (const auto& [name, g] : want.groups()) {
    auto it = got.groups().find(name);
    ASSERT_NE(it, got.groups().end()) << what << ": group '" << name << "' missing";
    EXPECT_EQ(g.SerializeAsString(), it->second.SerializeAsString())
        << what << ": group '" << name << "' differs: want " << g.ShortDebugString() << " got "
        << it->second.ShortDebugString();
  }
  EXPECT_EQ(want.coordinator().Snapshot(), got.coordinator().Snapshot()) << what << ": coordinated groups differ";
  EXPECT_EQ(want.last_append_time_ms(), got.last_append_time_ms()) << what;
  EXPECT_EQ(want.end_offset(), got.end_offset()) << what;
}

}  // namespace testing
}  // namespace brook::server
