// The partition state machine (server/machines/partition_machine.h) driven by untrusted bytes the way a replica
// drives it: it starts fresh, from stored state (Load of raw keys and values) or from a leader's snapshot
// (Restore of raw bytes), then applies committed entries whose data is raw (optionally with the body CRC made
// right), takes and installs its own snapshots, answers CheckProduce, and is reloaded from what it persisted.
//
// Input (tests/fuzz/fuzz_util.h framing): a start, then operations until the input ends.
//   start:  U8 mode%3: 0 fresh | 1 Load: U8 n, n x (Bytes key, Bytes value), U64 index, U64 end_offset
//                              | 2 Restore: Bytes snapshot, U64 index, U64 end_offset
//   op U8%6: 0 Ready: U8 n (1..4 entries, one StateDelta as a host turn writes it), each: U8 flags, Bytes data,
//              flags&1 CRC made right, &2 a no-op entry, &4 U64 base_offset (else the end offset),
//              &8 U32 record_count (else the records the data holds), U8 term
//            1 CheckProduce: U8 which producer (an existing one, or U64 id), U32 epoch, U64 sequence, U32 count,
//              U32 body_crc, U8 flags: &1 AddInFlight at applied + 1 + U8
//            2 ClearInFlight
//            3 own snapshot: Restore it into a fresh machine (and into this one if U8 is odd)
//            4 reload: Load a fresh machine from the persisted state
//            5 Restore raw: Bytes snapshot (a leader's snapshot at this machine's applied point)
//
// Properties: no crash; an Apply or Restore error ends the input (the host stops the group); on state the machine
// built itself (not after a raw Load), a snapshot restores to the same state and the state persisted through
// StateDeltas (written as the host writes them: deletes, then puts) loads back to the state in memory.
#include <cstdint>
#include <map>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "server/codec/entry_codec.h"
#include "server/machines/partition_machine.h"
#include "storage/crc32c.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::server {
namespace {

using fuzz::Fail;
using fuzz::FrameReader;

// What storage holds of the group's state: StateDeltas applied as server/host and storage/store.cc write them.
struct Store {
  std::map<std::string, std::string> kv;
  void Write(const StateDelta& d) {
    for (const auto& k : d.deletes) kv.erase(k);
    for (const auto& [k, v] : d.puts) kv[k] = v;
  }
  StoredState Scan() const { return StoredState(kv.begin(), kv.end()); }
};

void CheckSameState(const PartitionMachine& a, const PartitionMachine& b, const char* what) {
  internal::PartitionSnapshot sa, sb;
  if (!sa.ParseFromString(a.Snapshot()) || !sb.ParseFromString(b.Snapshot())) Fail("a snapshot does not parse");
  if (!google::protobuf::util::MessageDifferencer::Equivalent(sa, sb)) {
    fuzz::AllocationBoundPause pause;
    Fail(std::string(what) + ":\n" + sa.DebugString() + "--- vs ---\n" + sb.DebugString());
  }
  if (a.end_offset() != b.end_offset()) Fail(std::string(what) + ": end offsets differ");
}

class Driver {
 public:
  explicit Driver(FrameReader& in) : in_(in) {}

  bool Start() {
    switch (in_.U8() % 3) {
      case 0:
        return machine_.Load({}, LogPoint{}).ok();
      case 1: {
        StoredState state;
        for (int n = in_.U8() % 16; n > 0; --n) {
          std::string key(in_.Bytes());
          state.emplace_back(std::move(key), std::string(in_.Bytes()));
        }
        const LogPoint at{in_.U64(), in_.U64()};
        // Raw stored state can hold what no entry or snapshot writes: a producer's id under another id's key, a
        // group name that is not UTF-8 (its snapshot then does not parse). The reload and snapshot checks hold for
        // state the machine built itself; on raw state only crashes count.
        own_state_ = false;
        return machine_.Load(state, at).ok();
      }
      default: {
        const std::string snapshot(in_.Bytes());
        const LogPoint at{in_.U64(), in_.U64()};
        StateDelta delta;
        if (!machine_.Restore(snapshot, at, &delta).ok()) return false;
        store_.Write(delta);
        return true;
      }
    }
  }

  // Returns false when the group would stop (an entry or snapshot it cannot apply).
  bool Step() {
    switch (in_.U8() % 6) {
      case 0:
        return Ready();
      case 1:
        CheckProduce();
        return true;
      case 2:
        machine_.ClearInFlight();
        return true;
      case 3:
        return OwnSnapshot();
      case 4:
        Reload();
        return true;
      default: {
        const std::string snapshot(in_.Bytes());
        StateDelta delta;
        if (!machine_.Restore(snapshot, Point(), &delta).ok()) return false;
        store_.Write(delta);
        return true;
      }
    }
  }

  void Reload() {
    if (!own_state_) return;
    PartitionMachine loaded;
    if (!loaded.Load(store_.Scan(), Point()).ok()) Fail("the persisted state does not load");
    CheckSameState(machine_, loaded, "persisted state loads back to another state");
  }

 private:
  LogPoint Point() const { return LogPoint{machine_.applied_index(), machine_.end_offset()}; }

  bool Ready() {
    StateDelta delta;
    bool ok = true;
    for (int n = 1 + in_.U8() % 4; n > 0 && ok; --n) ok = ApplyOne(&delta);
    store_.Write(delta);
    return ok;
  }

  bool ApplyOne(StateDelta* delta) {
    const uint8_t flags = in_.U8();
    std::string data(in_.Bytes());
    if ((flags & 1) && data.size() >= kEntryHeaderBytes) {
      const uint32_t crc = storage::Crc32c(std::string_view(data).substr(kEntryHeaderBytes));
      for (int i = 0; i < 4; ++i) data[9 + i] = static_cast<char>(crc >> (8 * i));
    }
    raft::Entry e;
    e.index = machine_.applied_index() + 1;
    e.type = (flags & 2) ? raft::EntryType::kNoop : raft::EntryType::kNormal;
    e.base_offset = (flags & 4) ? in_.U64() : machine_.end_offset();
    if (flags & 8) {
      e.record_count = in_.U32();
    } else if (auto batch = DecodeRecordBatch(data); batch.ok() && e.type == raft::EntryType::kNormal) {
      e.record_count = static_cast<uint32_t>(batch->records_size());
    }
    e.term = in_.U8();
    e.data = std::move(data);
    return machine_.Apply(e, delta).ok();
  }

  void CheckProduce() {
    PartitionMachine::ProduceKey key;
    const uint8_t which = in_.U8();
    if (which < machine_.producers().size()) {
      key.producer_id = std::next(machine_.producers().begin(), which)->first;
    } else {
      key.producer_id = in_.U64();
    }
    key.epoch = in_.U32();
    key.sequence = in_.U64();
    key.count = in_.U32();
    key.body_crc = in_.U32();
    const auto decision = machine_.CheckProduce(key);
    const uint8_t flags = in_.U8();
    if ((flags & 1) && decision.verdict == PartitionMachine::Verdict::kNew) {
      machine_.AddInFlight(key, machine_.applied_index() + 1 + in_.U8());
    }
  }

  bool OwnSnapshot() {
    const std::string snapshot = machine_.Snapshot();
    PartitionMachine other;
    StateDelta ignored;
    const bool restored = other.Restore(snapshot, Point(), &ignored).ok();
    if (!own_state_) return restored;  // a follower refuses the snapshot: the group stops there
    if (!restored) Fail("a machine's own snapshot does not restore");
    CheckSameState(machine_, other, "a snapshot restores to another state");
    if (in_.U8() % 2 == 1) {
      StateDelta delta;
      if (!machine_.Restore(snapshot, Point(), &delta).ok()) Fail("a machine's own snapshot does not restore");
      store_.Write(delta);
    }
    return true;
  }

  FrameReader& in_;
  PartitionMachine machine_;
  Store store_;
  bool own_state_ = true;
};

void FuzzOne(const uint8_t* data, size_t size) {
  FrameReader in(data, size);
  Driver driver(in);
  if (!driver.Start()) return;
  // Every operation reads at least one byte, so this ends.
  while (!in.empty()) {
    if (!driver.Step()) return;
  }
  driver.Reload();
}

}  // namespace
}  // namespace brook::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook::fuzz::AllocationBound bound(size);
  brook::server::FuzzOne(data, size);
  return 0;
}
