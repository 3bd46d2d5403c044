// A group whose committed entries drive a state machine of type `Machine` (a StateMachine<Machine::Applied>,
// server/machines/state_machine.h), with its proposals typed by what applying an entry returns. The apply step
// is written once here for the partition and the metadata groups alike.
//
// Loop thread only.
#pragma once

#include <functional>
#include <string>

#include "server/common/log.h"
#include "server/host/group.h"
#include "server/host/proposals.h"

namespace brook::server {

template <typename Machine>
class MachineGroup : public Group {
 public:
  using Result = typename Machine::Applied;
  // Runs after each committed entry is applied, before its proposal is answered (effects such as opening the
  // groups of a created topic happen first, so an answered CreateTopic finds them).
  using AppliedHook = std::function<void(const raft::Entry& entry, const Result& result)>;

  // `replaced` answers proposals whose index another leader's entry took.
  MachineGroup(raft::GroupId id, std::string topic, uint32_t partition, grpc::Status replaced)
      : Group(id, std::move(topic), partition), replaced_(std::move(replaced)) {}

  Machine& machine() { return machine_; }
  const Machine& machine() const { return machine_; }
  Proposals<Result>& proposals() { return proposals_; }
  void set_applied_hook(AppliedHook hook) { on_applied_ = std::move(hook); }
  void set_restored_hook(std::function<void()> hook) { on_restored_ = std::move(hook); }

  void Apply(const raft::Ready& rd, storage::GroupWrite& out) override {
    StateDelta delta;
    if (rd.snapshot) Restore(rd, delta, out);
    for (const auto& entry : rd.committed) {
      if (broken()) break;
      auto result = machine_.Apply(entry, &delta);
      if (!result.ok()) {
        LogError("n", self(), " g", id(), " cannot apply entry ", entry.index, ": ", result.status().message());
        set_broken();
        break;
      }
      if (on_applied_) on_applied_(entry, *result);
      proposals_.Complete(entry, *result, raft(), replaced_);
      set_applied(entry.index);
    }
    if (!rd.committed.empty() || rd.conf_state) {
      out.apply_state = storage::ApplyState{applied(), rd.conf_state ? *rd.conf_state : raft().conf()};
    }
    out.state_puts = std::move(delta.puts);
    out.state_deletes = std::move(delta.deletes);
  }

  void FailPending(const grpc::Status& status) override { proposals_.FailAll(status); }

 protected:
  absl::Status LoadMachine(const StoredState& state, LogPoint applied) override {
    return machine_.Load(state, applied);
  }
  std::string MachineSnapshot() const override { return machine_.Snapshot(); }

 private:
  void Restore(const raft::Ready& rd, StateDelta& delta, storage::GroupWrite& out) {
    const raft::Index index = rd.snapshot->index;
    if (auto s = machine_.Restore(rd.snapshot_data, LogPoint{index, rd.snapshot->next_offset}, &delta); !s.ok()) {
      LogError("n", self(), " g", id(), " cannot install snapshot: ", s.message());
      set_broken();
    }
    set_applied(index);
    ++counters().snapshots_installed;
    LogInfo("n", self(), " g", id(), " term=", raft().term(), " installed snapshot at index ", index,
            " (next offset ", rd.snapshot->next_offset, ")");
    out.apply_state = storage::ApplyState{index, rd.snapshot->conf};
    if (on_restored_) on_restored_();
  }

  Machine machine_;
  Proposals<Result> proposals_;
  const grpc::Status replaced_;
  AppliedHook on_applied_;
  std::function<void()> on_restored_;
};

}  // namespace brook::server
