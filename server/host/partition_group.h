// The Raft group of one partition: its state machine (server/machines/partition_machine.h), the view it
// publishes to readers (server/host/views.h), the append time it stamps on new entries, and the leadership
// transfers asked of it. Every received entry's CRC is checked before it can reach the log.
//
// Loop thread only.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "brook/v1/admin.pb.h"
#include "server/host/clock.h"
#include "server/host/machine_group.h"
#include "server/host/views.h"
#include "server/machines/partition_machine.h"

namespace brook::server {

class PartitionGroup final : public MachineGroup<PartitionMachine> {
 public:
  // A TransferLeadership call waiting for the leadership to land on `target`.
  struct Transfer {
    raft::NodeId target;
    Clock::TimePoint deadline;
    std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done;
  };

  // `store` holds the group's log (for the bounds it publishes); `read_past_commit` publishes the uncommitted
  // log tail to readers (brookd --unsafe_break; tests only).
  PartitionGroup(raft::GroupId id, const std::string& topic, uint32_t partition, uint64_t topic_id,
                 const storage::Store* store, bool read_past_commit);

  uint64_t topic_id() const { return topic_id_; }
  const std::shared_ptr<PartitionView>& view() const { return view_; }
  // The append time the next entry gets is max(now, this): non-decreasing per partition (docs/decisions.md A5).
  int64_t last_append_time() const { return last_append_time_; }
  void set_last_append_time(int64_t ms) { last_append_time_ = ms; }
  std::vector<Transfer>& transfers() { return transfers_; }
  bool Idle() const override { return transfers_.empty() && Group::Idle(); }

  // Where key compaction stands on this replica (server/host/maintenance.h); forgotten on restart, when the first
  // pass starts over from the log start.
  struct Compaction {
    raft::Index clean_end = 0;           // the last entry a pass covered; passes build their key map after it
    raft::Offset clean_end_offset = 0;   // its end offset
    uint64_t live_records = 0;           // records the last pass left up to clean_end
    std::optional<int64_t> next_due_ms;  // waiting alone lets a pass remove more at this time
    bool waiting_for_lag = false;        // the last pass stopped before records younger than the lag
    int64_t last_pass_ms = 0;            // when the last pass ended (this node's clock)
  };
  Compaction& compaction() { return compaction_; }
  const Compaction& compaction() const { return compaction_; }
  // Answers every waiting transfer with `status`.
  void FailTransfers(const grpc::Status& status);

  // Publishes the applied index, high watermark, log start and leader to readers.
  void Publish();

  bool Accepts(const raft::Message& m) const override;
  void AfterAdvance() override { Publish(); }

 protected:
  absl::Status LoadMachine(const StoredState& state, LogPoint applied) override;
  void OnTookOffice() override;
  void OnLeftOffice() override { machine().ClearInFlight(); }

 private:
  const uint64_t topic_id_;
  const bool read_past_commit_;
  const storage::Store* const store_;
  std::shared_ptr<PartitionView> view_;
  int64_t last_append_time_ = 0;
  std::vector<Transfer> transfers_;
  Compaction compaction_;
};

}  // namespace brook::server
