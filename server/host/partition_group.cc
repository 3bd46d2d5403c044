#include "server/host/partition_group.h"

#include <algorithm>

#include "server/codec/entry_codec.h"
#include "server/common/errors.h"

namespace brook::server {

PartitionGroup::PartitionGroup(raft::GroupId id, const std::string& topic, uint32_t partition, uint64_t topic_id,
                               const storage::Store* store, bool read_past_commit)
    : MachineGroup(id, topic, partition,
                   RetryLater(grpc::StatusCode::UNAVAILABLE,
                              "leadership changed before the batch committed; outcome unknown: retry with the "
                              "same producer id and sequence",
                              100)),
      topic_id_(topic_id),
      read_past_commit_(read_past_commit),
      store_(store),
      view_(std::make_shared<PartitionView>(id, topic, partition, topic_id)) {}

absl::Status PartitionGroup::LoadMachine(const StoredState& state, LogPoint applied) {
  if (auto s = MachineGroup::LoadMachine(state, applied); !s.ok()) return s;
  last_append_time_ = machine().last_append_time_ms();
  return absl::OkStatus();
}

void PartitionGroup::OnTookOffice() {
  last_append_time_ = std::max(last_append_time_, machine().last_append_time_ms());
}

void PartitionGroup::FailTransfers(const grpc::Status& status) {
  auto transfers = std::move(transfers_);
  transfers_.clear();
  for (auto& t : transfers) t.done(status, {});
}

bool PartitionGroup::Accepts(const raft::Message& m) const {
  for (const auto& e : m.entries) {
    if (e.type != raft::EntryType::kNormal) continue;
    if (auto s = VerifyEntryData(e.data); !s.ok()) {
      LogError("n", self(), " g", id(), " dropping ", raft::MessageTypeName(m.type), " from n", m.from, ": entry ",
               e.index, " is corrupt: ", s.message());
      return false;
    }
  }
  return true;
}

void PartitionGroup::Publish() {
  NoteLeadership();
  auto bounds = store_->Bounds(id());
  raft::Index readable = applied();
  uint64_t high_watermark = machine().end_offset();
  if (read_past_commit_ && bounds.end_offset > high_watermark) {
    // Broken on purpose: publish the end of the persisted log, committed or not.
    readable = bounds.last_index;
    high_watermark = bounds.end_offset;
  }
  // A new leader takes produce requests once it has applied what earlier terms left (its barrier); until then it
  // does not name itself in metadata, so clients routed by GetMetadata do not meet "retry shortly" from it.
  raft::NodeId leader = raft().leader();
  if (leader == self() && applied() < barrier()) leader = 0;
  view_->Publish(readable, high_watermark, bounds.log_start_offset, leader, raft().term());
}

}  // namespace brook::server
