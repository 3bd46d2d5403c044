// The durable log of one group as its Raft core reads it: entries and terms from storage, the log start from
// storage's cached snapshot meta, and the snapshot bytes from the group's state machine.
// Loop thread (the Raft core calls it while stepping); reads only, never blocks on a sync.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "raft/log_reader.h"
#include "storage/store.h"

namespace brook::server {

class GroupLogReader final : public raft::LogReader {
 public:
  GroupLogReader(storage::Store* store, raft::GroupId group, std::function<std::string()> snapshot_data)
      : store_(store), group_(group), snapshot_data_(std::move(snapshot_data)) {}

  absl::StatusOr<std::vector<raft::Entry>> Entries(raft::Index lo, raft::Index hi,
                                                   uint64_t max_bytes) const override;
  absl::StatusOr<raft::Term> TermAt(raft::Index i) const override;
  raft::Index FirstIndex() const override { return store_->FirstIndex(group_); }
  raft::Index LastIndex() const override { return store_->LastIndex(group_); }
  raft::SnapshotMeta Snapshot() const override { return store_->GetSnapshotMeta(group_); }
  std::string SnapshotData() const override { return snapshot_data_ ? snapshot_data_() : std::string(); }

 private:
  storage::Store* const store_;
  const raft::GroupId group_;
  const std::function<std::string()> snapshot_data_;
};

}  // namespace brook::server
