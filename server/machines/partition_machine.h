// The state machine of one partition: what applying its committed log entries builds, besides the records
// themselves (which stay in the log and are read from storage).
//
// It holds the high watermark, the idempotent-producer table and the consumer-group offsets. Every replica
// applies the same entries and so holds the same state; the table is persisted through StateDelta in the same
// RocksDB batch as the applied index, and sent to followers inside snapshots.
//
// The leader also consults it before proposing a Produce (docs/decisions.md D7): CheckProduce decides from the
// applied table plus the batches in flight whether a request is new, a retry of a known batch, or a gap. That
// check happens before the batch gets offsets, so a duplicate never takes offsets and offsets stay dense.
// Safety argument: the host only lets a leader propose once it has applied every entry of earlier terms (the
// barrier in server/host/group.h), so every batch in the leader's log past the applied index is in `inflight_`.
//
// Owned by the host loop thread; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/internal/state.pb.h"
#include "raft/types.h"
#include "server/machines/group_coordinator.h"
#include "server/machines/state_machine.h"

namespace brook::server {

// What applying one entry of a partition tells its proposer.
struct PartitionApplied {
  bool records = false;  // a record batch (base_offset..count valid)
  raft::Offset base_offset = 0;
  uint32_t record_count = 0;
  int64_t append_time_ms = 0;
  bool group_command = false;  // a coordinator command (docs/decisions.md A19): `group` is its outcome
  GroupApplied group;
};

class PartitionMachine final : public StateMachine<PartitionApplied> {
 public:
  enum class Verdict {
    kNew,             // propose it
    kDuplicate,       // a retry of a written batch: answer with `original`
    kInFlight,        // a retry of a batch proposed and not yet applied: answer when `inflight_index` applies
    kSequenceGap,     // earlier batches are missing: expected_sequence
    kSequenceReused,  // (producer, sequence, count) of a remembered batch with other content: `original`
    kFenced,          // a lower epoch than the partition knows: current_epoch
    kUnknownProducer  // not remembered at this epoch, and not starting at sequence 0
  };
  struct Decision {
    Verdict verdict = Verdict::kNew;
    internal::ProducerBatch original;  // kDuplicate, kSequenceReused: the batch as first written
    raft::Index inflight_index = 0;    // kInFlight: the Raft index of the entry carrying it
    uint64_t expected_sequence = 0;    // kSequenceGap
    uint32_t current_epoch = 0;        // kFenced
  };
  // One Produce as CheckProduce sees it. `body_crc` is the CRC-32C of the batch's encoded body (records, producer
  // id, sequence and epoch): equal for a true retry, different for other records under the same sequence.
  struct ProduceKey {
    uint64_t producer_id = 0;
    uint32_t epoch = 0;
    uint64_t sequence = 0;
    uint32_t count = 0;
    uint32_t body_crc = 0;
  };

  // Restores from the group's persisted state (the key/values under this group in storage). `applied` is the
  // last applied entry's index and end offset (from the group's apply state).
  absl::Status Load(const StoredState& state, LogPoint applied) override;

  // Applies one committed entry (in index order). Entry data is CRC-checked; corrupt data is DataLoss.
  absl::StatusOr<Applied> Apply(const raft::Entry& entry, StateDelta* delta) override;

  // Leader side: classify a Produce before proposing it. The rules (docs/api.md "Idempotent produce"): a producer
  // the partition does not remember at this epoch must start at sequence 0; a lower epoch is fenced; within an
  // epoch the next sequence is new, a retry of one of the last kIdempotenceWindowBatches batches (same sequence,
  // count and body CRC) is a duplicate or in flight, the same sequence with other content is a reuse, and anything
  // else is a gap.
  Decision CheckProduce(const ProduceKey& key) const;
  // Leader side: a batch was proposed at `index`.
  void AddInFlight(const ProduceKey& key, raft::Index index);
  // Leader side: leadership was lost; whatever was in flight may or may not commit.
  void ClearInFlight() { inflight_.clear(); }

  // Snapshot of the whole state (as of the applied index) for a follower whose log was trimmed, and its inverse.
  // After Restore at a log start below the snapshot's state index, re-applied entries up to that index change
  // nothing but the offsets.
  std::string Snapshot() const override;
  absl::Status Restore(std::string_view snapshot, LogPoint log_start, StateDelta* delta) override;

  raft::Offset end_offset() const { return end_offset_; }
  raft::Index applied_index() const { return applied_index_; }
  int64_t last_append_time_ms() const { return last_append_time_ms_; }
  const std::map<std::string, internal::GroupOffset>& groups() const { return groups_; }
  const std::map<uint64_t, internal::ProducerState>& producers() const { return producers_; }
  // The consumer groups this partition coordinates (a partition of __consumer_groups).
  const GroupCoordinator& coordinator() const { return coordinator_; }

  static std::string ProducerKey(uint64_t producer_id);
  static std::string GroupKey(std::string_view group);
  static std::string CoordinatedGroupKey(std::string_view group);

 private:
  struct InFlight {
    uint64_t sequence;
    uint32_t count;
    uint32_t epoch;
    uint32_t body_crc;
    raft::Index index;
  };
  absl::Status ApplyOffsetCommit(const raft::Entry& entry, int64_t append_time, StateDelta* delta);
  // A coordinator command (the group's outcome goes into `out`; only corrupt data is an error).
  absl::Status ApplyGroupCommand(const raft::Entry& entry, Applied& out, StateDelta* delta);
  void RememberBatch(uint64_t producer_id, uint32_t epoch, const internal::ProducerBatch& batch,
                     StateDelta* delta);
  // Forgets producers idle for longer than Limits::kProducerRetentionMs before `now_ms` (an entry's append time:
  // the same on every replica).
  void ExpireProducers(int64_t now_ms, StateDelta* delta);
  // Within one epoch: is a retry at or below the expected sequence a duplicate, in flight, or a reuse?
  Decision CheckRetry(const ProduceKey& key, const internal::ProducerState* state,
                      const std::deque<InFlight>* flying) const;

  raft::Index applied_index_ = 0;
  // Entries at or below this index are already reflected in the state (see Restore).
  raft::Index state_index_ = 0;
  // Offset the next record batch gets: end offset of the last applied entry (the high watermark).
  raft::Offset end_offset_ = 0;
  // Largest append time applied; the leader stamps new batches with max(now, this).
  int64_t last_append_time_ms_ = 0;
  // Invariant: each ProducerState holds at most Limits::kIdempotenceWindowBatches batches, oldest first, and the
  // table holds at most Limits::kMaxProducersPerPartition producers.
  std::map<uint64_t, internal::ProducerState> producers_;
  std::map<std::string, internal::GroupOffset> groups_;
  // Persisted one group per key (CoordinatedGroupKey), rewritten by each command that changes the group.
  GroupCoordinator coordinator_;
  // Leader only: batches proposed and not yet applied, per producer, in sequence order.
  std::map<uint64_t, std::deque<InFlight>> inflight_;
};

}  // namespace brook::server
