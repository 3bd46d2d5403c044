// One turn's Ready cycle for every group of the node (docs/decisions.md D2), the heart of the loop:
//   1. collect the Ready of every group; send the messages that may leave before the sync (the leaders'
//      appends, so followers write in parallel with the leader's own disk);
//   2. write every group's entries, hard state and snapshot in ONE storage Write (one WriteBatch, one fsync,
//      skipped when only commit indexes changed) - group commit;
//   3. send the messages that promise durability (votes, append acknowledgements), batched per destination;
//   4. apply committed entries, answer proposals, write the state machines' changes (unsynced: they are rebuilt
//      from the log after a crash), Advance, and publish what readers see.
// A storage write that fails stops the process (fail-stop: a node that cannot persist must not acknowledge).
//
// Loop thread only. Cost per turn: one synced write when any group must sync, one unsynced write of applied
// state, one MessageBatch per peer per phase; one protobuf copy of each outgoing entry; the entries to persist are
// moved into the write, not copied.
#pragma once

#include <map>
#include <vector>

#include "brook/internal/transport.pb.h"
#include "server/host/context.h"

namespace brook::server {

class GroupCommit {
 public:
  explicit GroupCommit(HostContext* ctx) : ctx_(ctx) {}
  // Runs one Ready cycle over every hosted group. Returns true if some group has ready work again already (the
  // loop should turn again soon rather than wait for input).
  bool Run();

 private:
  struct Work {
    Group* group;
    raft::Ready rd;
    int write;  // the index of its GroupWrite in this turn's writes (holding rd.entries until Persist), or -1
  };
  // Step 1: takes the groups' Ready (and new groups' initial writes); returns whether the write must sync.
  bool Collect(std::vector<Work>& work, std::vector<storage::GroupWrite>& writes);
  void Persist(const std::vector<storage::GroupWrite>& writes, bool sync);
  void ApplyAll(std::vector<Work>& work);
  // Moves `msgs` (their entry data) into the outbox.
  void Queue(std::vector<raft::Message>& msgs, raft::GroupId group);
  void Flush();

  HostContext* const ctx_;
  std::map<uint64_t, internal::MessageBatch> outbox_;
};

}  // namespace brook::server
