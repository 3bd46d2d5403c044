// One Raft group hosted on this node: its consensus core, its durable log as the core reads it, the leadership
// bookkeeping the handlers consult, and what the loop needs to persist, apply and publish it. The state machine
// and the proposals waiting on it live in the typed subclass (server/host/machine_group.h); partitions add their
// published view (server/host/partition_group.h).
//
// Loop thread only. Cost: the Raft core's state plus one storage read per entry the core asks for.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "raft/raft.h"
#include "server/host/log_reader.h"
#include "server/machines/state_machine.h"
#include "storage/store.h"

namespace brook::server {

// What every group of a node is configured with.
struct GroupOptions {
  raft::NodeId self = 0;
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  // Mixed into each group's election-timeout randomization (with the node and group ids).
  uint64_t seed = 0;
  // Whether a node id is a member of the cluster (raft::Config::is_cluster_node): a group hears leader traffic and
  // vote requests from cluster nodes it does not know as members yet (it lags behind the change adding them).
  std::function<bool(raft::NodeId)> is_cluster_node;
  // raft::Config::learner_bytes_per_tick (HostOptions::move_bytes_per_sec per tick).
  uint64_t learner_bytes_per_tick = 0;
};

// Figures of a group since the node started (metrics).
struct GroupCounters {
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t leader_changes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t truncations = 0;  // log prefixes dropped by retention
  // Key compaction (server/host/compaction_worker.h): passes, records they removed, the entry data of the entries
  // they rewrote before and after, and log prefixes dropped because compaction left them without records.
  uint64_t compaction_passes = 0;
  uint64_t compaction_records_removed = 0;
  uint64_t compaction_bytes_before = 0;
  uint64_t compaction_bytes_after = 0;
  uint64_t compaction_drops = 0;
};

// The end offset of the entry at `index` (the log start's offset when the entry is not stored): one entry read.
absl::StatusOr<raft::Offset> EndOffsetAt(const storage::Store& store, raft::GroupId group, raft::Index index);

class Group {
 public:
  virtual ~Group() = default;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // Loads the group's persisted state and starts its Raft core. A group with no stored membership is new: it
  // starts with `bootstrap` as its members and an initial write (TakeInitWrite) that persists them.
  absl::Status Open(storage::Store* store, const GroupOptions& options, const raft::ConfState& bootstrap);

  raft::GroupId id() const { return id_; }
  raft::NodeId self() const { return self_; }
  // The partition this group replicates; "" and 0 for the metadata group.
  const std::string& topic() const { return topic_; }
  uint32_t partition() const { return partition_; }
  raft::RaftNode& raft() { return *raft_; }
  const raft::RaftNode& raft() const { return *raft_; }
  // Index of the last entry applied to the state machine.
  raft::Index applied() const { return applied_; }
  // Applying failed (a corrupt entry): the group stops applying; readers stay at the old high watermark.
  bool broken() const { return broken_; }
  const GroupCounters& counters() const { return counters_; }
  GroupCounters& counters() { return counters_; }

  // ---- Leadership -------------------------------------------------------------------------------------------
  // Follows the core's role and leader: counts elections and leader changes; on taking office records the
  // barrier; on losing office (or regaining it in a later term unseen) fails every waiting proposal with an
  // outcome-unknown status. Call after anything that may change the role; cheap when nothing changed.
  void NoteLeadership();
  // This node leads the group (as of the last NoteLeadership) and has applied its barrier: every entry of
  // earlier terms, so the state machine knows everything in the log it may be asked about.
  bool serving() const { return was_leader_ && applied_ >= barrier_; }
  bool was_leader() const { return was_leader_; }
  // The leader's last index when it took office (its no-op): it serves proposals once applied >= barrier.
  raft::Index barrier() const { return barrier_; }

  // ---- Sleep (docs/decisions.md A22) ------------------------------------------------------------------------
  // The group may be left out of the loop's per-turn walks: its core is quiet with nothing ready, its initial
  // write is done, its leadership is noted, and (partitions) no transfer waits on it.
  virtual bool Idle() const;
  // Set by the registry (GroupRegistry::SleepIdle, Wake).
  bool asleep = false;
  bool asleep_leading = false;  // counted among the groups this node leads while asleep

  // ---- The loop's turn --------------------------------------------------------------------------------------
  // The storage write that creates a new group's initial state, once.
  std::optional<storage::GroupWrite> TakeInitWrite();
  // A message from a peer may reach the core (partitions check every entry's CRC first).
  virtual bool Accepts(const raft::Message& m) const { return true; }
  // Applies the Ready's snapshot and committed entries to the state machine, answers the proposals they settle,
  // and adds the state changes and the applied point to `out`.
  virtual void Apply(const raft::Ready& rd, storage::GroupWrite& out) = 0;
  // After the Ready is advanced: publish what readers see.
  virtual void AfterAdvance() {}
  // Answers every waiting proposal with `status`.
  virtual void FailPending(const grpc::Status& status) = 0;

 protected:
  Group(raft::GroupId id, std::string topic, uint32_t partition)
      : id_(id), topic_(std::move(topic)), partition_(partition) {}

  // Hooks of the typed subclass.
  virtual absl::Status LoadMachine(const StoredState& state, LogPoint applied) = 0;
  virtual std::string MachineSnapshot() const = 0;
  virtual void OnTookOffice() {}
  virtual void OnLeftOffice() {}

  void set_applied(raft::Index index) { applied_ = index; }
  void set_broken() { broken_ = true; }

 private:
  const raft::GroupId id_;
  const std::string topic_;
  const uint32_t partition_;
  raft::NodeId self_ = 0;
  std::unique_ptr<GroupLogReader> reader_;
  std::unique_ptr<raft::RaftNode> raft_;
  raft::Index applied_ = 0;
  bool broken_ = false;
  std::optional<storage::GroupWrite> init_write_;
  // Leadership bookkeeping. Invariant: leader_term_ != 0 iff was_leader_; then barrier_ is the last index of the
  // log when this node took office in leader_term_.
  raft::Term leader_term_ = 0;
  raft::Index barrier_ = 0;
  bool was_leader_ = false;
  raft::Role last_role_ = raft::Role::kFollower;
  raft::NodeId last_leader_ = 0;
  GroupCounters counters_;
};

}  // namespace brook::server
