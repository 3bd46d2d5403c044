// The metadata state machine (server/machines/metadata_machine.h, group 0) driven by untrusted bytes the way every
// node drives it: it starts fresh, from its stored value (Load of raw bytes) or from a leader's snapshot (Restore
// of raw bytes), then applies committed entries whose data is raw (a MetadataCommand from the wire), takes and
// installs its own snapshots, and is reloaded from what it persisted.
//
// Input (tests/fuzz/fuzz_util.h framing): a start, then operations until the input ends.
//   start:  U8 mode%3: 0 fresh | 1 Load: Bytes state | 2 Restore: Bytes snapshot
//   op U8%4: 0 Ready: U8 n (1..4 entries, one StateDelta), each: U8 flags (&1 a no-op entry), Bytes data
//            1 own snapshot: Restore it into a fresh machine
//            2 reload: Load a fresh machine from the persisted state
//            3 Restore raw: Bytes snapshot
//
// Properties: no crash; an Apply or Restore error ends the input (the host stops the group); a snapshot restores
// to the same state; the persisted state loads back to the state in memory; on state the machine built itself,
// every group id of every topic is below next_group_id (ids are never reused).
#include <cstdint>
#include <map>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "server/machines/metadata_machine.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::server {
namespace {

using fuzz::Fail;
using fuzz::FrameReader;

// A next id of 0 means 1: the machine turns one into the other before it assigns an id (Load, Apply and
// NextProducerId do), and need not persist that alone.
internal::MetadataState Meaning(internal::MetadataState s) {
  if (s.next_group_id() == 0) s.set_next_group_id(1);
  if (s.next_topic_id() == 0) s.set_next_topic_id(1);
  if (s.next_producer_id() == 0) s.set_next_producer_id(1);
  return s;
}

void CheckSameState(const internal::MetadataState& a, const internal::MetadataState& b, const char* what) {
  if (!google::protobuf::util::MessageDifferencer::Equivalent(a, b)) {
    fuzz::AllocationBoundPause pause;
    Fail(std::string(what) + ":\n" + a.DebugString() + "--- vs ---\n" + b.DebugString());
  }
}

class Driver {
 public:
  explicit Driver(FrameReader& in) : in_(in) {}

  bool Start() {
    switch (in_.U8() % 3) {
      case 0:
        return machine_.Load({}).ok();
      case 1: {
        // Raw state: whatever it holds (group ids at or past next_group_id) was not built by this machine.
        own_state_ = false;
        StoredState state = {{std::string(MetadataMachine::kStateKey), std::string(in_.Bytes())}};
        if (!machine_.Load(state).ok()) return false;
        store_ = state;
        return true;
      }
      default:
        own_state_ = false;
        return RestoreRaw();
    }
  }

  bool Step() {
    switch (in_.U8() % 4) {
      case 0:
        return Ready();
      case 1: {
        MetadataMachine other;
        StateDelta ignored;
        if (!other.Restore(machine_.Snapshot(), {}, &ignored).ok()) Fail("own snapshot does not restore");
        CheckSameState(Meaning(machine_.state()), Meaning(other.state()), "a snapshot restores to another state");
        return true;
      }
      case 2:
        Reload();
        return true;
      default:
        own_state_ = false;
        return RestoreRaw();
    }
  }

  void Reload() {
    MetadataMachine loaded;
    if (!loaded.Load(store_).ok()) Fail("the persisted state does not load");
    CheckSameState(Meaning(machine_.state()), Meaning(loaded.state()),
                   "persisted state loads back to another state");
  }

 private:
  bool RestoreRaw() {
    StateDelta delta;
    if (!machine_.Restore(in_.Bytes(), {}, &delta).ok()) return false;
    Write(delta);
    return true;
  }

  bool Ready() {
    StateDelta delta;
    bool ok = true;
    for (int n = 1 + in_.U8() % 4; n > 0 && ok; --n) {
      raft::Entry e;
      e.index = ++index_;
      e.term = 1;
      e.type = (in_.U8() & 1) ? raft::EntryType::kNoop : raft::EntryType::kNormal;
      e.data = std::string(in_.Bytes());
      ok = machine_.Apply(e, &delta).ok();
    }
    Write(delta);
    if (ok && own_state_) CheckGroupIds();
    return ok;
  }

  void CheckGroupIds() const {
    for (const auto& [name, topic] : machine_.state().topics()) {
      for (const auto& p : topic.partitions()) {
        if (p.group_id() == 0 || p.group_id() >= machine_.state().next_group_id()) {
          Fail("a partition's group id is 0 or not below next_group_id");
        }
      }
    }
  }

  // As storage/store.cc writes a StateDelta: deletes, then puts.
  void Write(const StateDelta& d) {
    std::map<std::string, std::string> kv(store_.begin(), store_.end());
    for (const auto& k : d.deletes) kv.erase(k);
    for (const auto& [k, v] : d.puts) kv[k] = v;
    store_.assign(kv.begin(), kv.end());
  }

  FrameReader& in_;
  MetadataMachine machine_;
  StoredState store_;
  raft::Index index_ = 0;
  bool own_state_ = true;
};

void FuzzOne(const uint8_t* data, size_t size) {
  FrameReader in(data, size);
  Driver driver(in);
  if (!driver.Start()) return;
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
