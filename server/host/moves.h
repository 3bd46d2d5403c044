// Replica moves (docs/operations.md "Moving replicas", docs/decisions.md A14). The plan is the metadata group's:
// a partition's `target_replicas` (MoveReplicas sets it, CancelMove sets it back to `replicas`). The work is the
// partition leader's: every few ticks each partition this node leads and serves compares its group's membership
// with the target (or, with no move running, with `replicas`) and makes the next change move_plan.h names. While
// a move runs the leader reports its progress to the controller every second (MessageBatch.move_reports); when
// the reported voters are the target, the controller proposes CompleteMove, and `replicas` becomes the target.
// A node leaving the partition then closes its replica and deletes its data (topics.h). So a move goes on across
// restarts and failovers of the leader and the controller alike: each of them starts again from the state the
// metadata group and the partition's Raft group hold.
//
// Loop thread only. Cost: one look at each led partition per kStepInterval; one report per moving partition a
// second (one entry read per new member for its offset, and RocksDB's size estimate of the group).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <set>

#include "brook/v1/admin.pb.h"
#include "server/host/context.h"

namespace brook::server {

class ReplicaMoves {
 public:
  explicit ReplicaMoves(HostContext* ctx) : ctx_(ctx) {}

  // ---- Controller ---------------------------------------------------------------------------------------------
  // Checks the move (the refusals admin.proto lists) and, unless dry_run, proposes it; answers with the plan.
  void Move(const v1::MoveReplicasRequest& req, std::function<void(grpc::Status, v1::MoveReplicasResponse)> done);
  void Cancel(const v1::CancelMoveRequest& req, std::function<void(grpc::Status, v1::CancelMoveResponse)> done);
  void List(std::function<void(grpc::Status, v1::ListOperationsResponse)> done);
  // DecommissionNode (decommission.cc): plans a move off the node for every partition it holds, checks each as
  // Move does, and proposes them at once with the node DRAINING.
  void Decommission(const v1::DecommissionNodeRequest& req,
                    std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done);
  // A partition leader's report; proposes CompleteMove when its voters are the target. Ignores a report of a
  // partition with no running move, and one whose lists are longer than any real group's.
  void OnReport(raft::NodeId from, const internal::MoveReport& report);
  // After a metadata entry applied: forgets the reports of moves that ended; counts a completion's time.
  void OnMetadataApplied(const MetadataApplied& applied);

  // ---- Every node, every turn ---------------------------------------------------------------------------------
  void Run(Clock::TimePoint now);

  static constexpr std::chrono::milliseconds kStepInterval{100};
  static constexpr std::chrono::milliseconds kReportInterval{1000};
  static constexpr int kMaxReportedMembers = 16;

 private:
  // Controller, every kStepInterval: a DRAINING node that no partition holds any more leaves the metadata group
  // (the controller hands its own leadership over first), and is then recorded REMOVED.
  void RemoveDrained();
  // DecommissionNode with cancel: the running moves off the node (the plan), then CancelDecommission.
  void CancelDecommission(const v1::DecommissionNodeRequest& req,
                          std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done);
  // The decommission plan of one partition: its replicas with `node` replaced by `replacement` (when not 0) or by
  // the active reachable node that holds the fewest replicas (`load`, updated); FAILED_PRECONDITION when there is
  // none.
  grpc::Status PlanOff(const internal::TopicRecord& t, const internal::PartitionAssignment& p, raft::NodeId node,
                       raft::NodeId replacement, std::map<raft::NodeId, int>& load,
                       v1::MoveReplicasResponse* out) const;
  // One partition's look: if led and served here, its next move step, and its move report when one is running.
  void Look(PartitionGroup& g, const internal::MetadataState& meta, raft::NodeId controller, bool report,
            internal::MessageBatch& batch);
  // The next membership change of `g` (led and served here) toward `desired`.
  void Step(PartitionGroup& g, const std::vector<raft::NodeId>& desired);
  internal::MoveReport Report(PartitionGroup& g, const internal::PartitionAssignment& p);
  // The controller heard from `node` within an election timeout (itself always).
  bool Reachable(raft::NodeId node) const;
  // The move's checks that need the controller's view; OK or FAILED_PRECONDITION naming the reason.
  grpc::Status CheckReachable(const internal::PartitionAssignment& p,
                              const std::vector<raft::NodeId>& target) const;

  struct Reported {
    internal::MoveReport report;
    raft::NodeId from = 0;
    int64_t at_ms = 0;
  };
  HostContext* const ctx_;
  Clock::TimePoint next_step_{};
  Clock::TimePoint next_report_{};
  // Sleeping partitions (GroupRegistry::SleepIdle) are looked at only when the metadata changed since the last
  // full look, or once per kReportInterval: nothing else can make a step due on one.
  raft::Index looked_meta_applied_ = 0;
  std::map<raft::GroupId, Reported> reports_;  // controller: the last report per moving partition
  std::set<raft::GroupId> completing_;         // controller: CompleteMove proposed, not yet applied
  std::set<raft::NodeId> cancelling_;          // controller: CancelDecommission proposed, not yet applied
  std::set<raft::NodeId> removing_;            // controller: SetNodeState REMOVED proposed, not yet applied
};

}  // namespace brook::server
