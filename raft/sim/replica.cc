#include "raft/sim/replica.h"

#include "absl/strings/str_cat.h"

namespace brook::raft::sim {

absl::Status Replica::Start() {
  Config c = config;
  c.id = id;
  auto node = RaftNode::Create(c, log.get(), hard_state, conf, applied);
  if (!node.ok()) return node.status();
  raft = std::move(*node);
  down = false;
  return absl::OkStatus();
}

absl::Status Replica::Persist(const Ready& rd) {
  if (rd.snapshot) {
    log->ApplySnapshot(*rd.snapshot, rd.snapshot_data);
    // Installing a snapshot replaces the state machine.
    applied_entries.clear();
    applied = rd.snapshot->index;
    conf = rd.snapshot->conf;
  }
  if (!rd.entries.empty()) {
    if (absl::Status s = log->Append(rd.entries); !s.ok()) return s;
  }
  if (rd.hard_state) hard_state = *rd.hard_state;
  return absl::OkStatus();
}

absl::Status Replica::Apply(const Ready& rd) {
  for (const Entry& e : rd.committed) {
    if (e.index != applied + 1) {
      return absl::InternalError(absl::StrCat("n", id, " applying index ", e.index, " after ", applied));
    }
    applied = e.index;
    applied_entries.push_back(e);
  }
  if (rd.conf_state) conf = *rd.conf_state;
  return absl::OkStatus();
}

absl::Status Replica::Compact(Index index) {
  if (index > applied)
    return absl::FailedPreconditionError(absl::StrCat("compact ", index, " > applied ", applied));
  return log->Compact(index, conf, absl::StrCat("state@", index));
}

}  // namespace brook::raft::sim
