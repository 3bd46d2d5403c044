// The multi-Raft host (docs/decisions.md D2): one loop thread drives every Raft group of the node. The Host is
// the coordinator: it wires the loop (server/host/loop.h), the groups (registry.h), the Ready cycle
// (group_commit.h) and the handlers (produce.h, offsets.h, topics.h, maintenance.h, stats.h), and publishes the
// views readers use (views.h). server/README.md maps where each request goes.
//
// One turn of the loop: step the peers' messages into their groups; run the posted tasks (the handlers); tick
// every group when a tick is due; run the Ready cycle (one group-commit write); close the groups of deleted
// topics; follow leadership changes and pending transfers; enforce retention when due; take a finished key
// compaction pass and start the next one when due (server/host/compaction_worker.h); publish the cluster view.
//
// Threads: the operations below may be called from any thread; each posts a task to the loop and its `done`
// runs once, on the loop thread (or, when the node is stopping, at once with UNAVAILABLE "node is shutting
// down", on the calling or the stopping thread: a task that arrives after Stop never touches the groups).
// Completion callbacks must not block.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "brook/v1/admin.pb.h"
#include "brook/v1/groups.pb.h"
#include "brook/v1/log.pb.h"
#include "server/host/admission.h"
#include "server/host/context.h"
#include "server/host/coordinator.h"
#include "server/host/group_commit.h"
#include "server/host/leader_hints.h"
#include "server/host/loop.h"
#include "server/host/maintenance.h"
#include "server/host/members.h"
#include "server/host/moves.h"
#include "server/host/offsets.h"
#include "server/host/produce.h"
#include "server/host/producers.h"
#include "server/host/quiescence.h"
#include "server/host/stats.h"
#include "server/host/topics.h"
#include "server/host/views.h"

namespace brook::server {

class Host {
 public:
  // `clock` and `network` must outlive the Host (SystemClock::Get() and the Transport in brookd).
  Host(HostOptions options, storage::Store* store, Network* network, Clock* clock = SystemClock::Get());
  ~Host();

  // Loads every group this node hosts from storage and starts the loop thread.
  absl::Status Start();
  // Loads the groups without starting the thread: the caller drives turns with RunOnce (tests).
  absl::Status StartManual();
  // Stops the loop after its current turn; pending operations fail with UNAVAILABLE. Idempotent.
  void Stop();
  // Tests (StartManual): runs one turn on the caller's thread. False once stopped.
  bool RunOnce() { return loop_.RunOnce(); }
  bool HasInput() const { return loop_.HasInput(); }

  // ---- Any thread --------------------------------------------------------------------------------------------
  void Deliver(internal::MessageBatch&& batch) { loop_.Deliver(std::move(batch)); }
  std::shared_ptr<const ClusterView> cluster() const;
  // The node has a metadata leader, has applied the metadata log as far as it knew it committed at start, finds
  // its own addresses recorded there (members.h), and no peer refuses it (a node whose data directory its peers
  // do not know is never ready).
  bool ready() const { return ready_.load(std::memory_order_acquire) && !network_->refused(); }
  // The metadata group removed this node (DecommissionNode): it serves nothing any more (any thread).
  bool removed() const { return removed_flag_.load(std::memory_order_acquire); }
  storage::Store* store() const { return store_; }
  raft::NodeId node_id() const { return options_.node_id; }
  // Groups this node leads that have other voters to hand leadership to (approximate; shutdown progress).
  int led_groups() const { return led_groups_.load(std::memory_order_relaxed); }
  // Before Start.
  void set_metrics(HostMetrics* metrics);
  // The disk-full guard's figures (any thread).
  const DiskGuard& disk() const { return disk_; }

  // ---- Operations --------------------------------------------------------------------------------------------
  // `entry_data` is EncodeRecordBatch(request), encoded by the caller's thread (the records are not copied again).
  void Produce(ProduceArgs args, std::string entry_data, ProduceDone done);
  // A producer name's id and next epoch (docs/api.md "Idempotent produce"); the controller answers.
  void InitProducer(const std::string& name, std::function<void(grpc::Status, v1::InitProducerResponse)> done);
  void CreateTopic(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  void DeleteTopic(const std::string& name, std::function<void(grpc::Status)> done);
  void AlterTopic(const v1::AlterTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  // Fills each partition's live state (leader, caught-up replicas, offsets) of a topic.
  void DescribeTopic(const std::string& name, std::function<void(grpc::Status, v1::Topic)> done);
  void TransferLeadership(const v1::TransferLeadershipRequest& req,
                          std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done);
  void CommitOffsets(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done);
  void FetchOffsets(const v1::FetchOffsetsRequest& req,
                    std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done);
  // Consumer-group membership on the group's coordinator (coordinator.h).
  void GroupHeartbeat(const v1::HeartbeatRequest& req,
                      std::function<void(grpc::Status, v1::HeartbeatResponse)> done);
  void DescribeGroup(const v1::DescribeGroupRequest& req,
                     std::function<void(grpc::Status, v1::DescribeGroupResponse)> done);
  void ListGroups(const v1::ListGroupsRequest& req,
                  std::function<void(grpc::Status, v1::ListGroupsResponse)> done);
  void DeleteGroup(const v1::DeleteGroupRequest& req, std::function<void(grpc::Status)> done);
  void ResetGroupOffsets(const v1::ResetOffsetsRequest& req, std::function<void(grpc::Status)> done);
  // Asks every group this node leads to hand leadership to its most caught-up other voter (graceful shutdown).
  void TransferAllLeadership();
  void SetLeaderBalancer(bool paused, std::function<void(grpc::Status, v1::SetLeaderBalancerResponse)> done);
  // An ACL or quota change (a ChangeAcl or SetQuota command, docs/security.md) on the controller; `done` gets the
  // status of its apply.
  void ProposeAccess(const internal::MetadataCommand& cmd, std::function<void(grpc::Status)> done);
  // Replica moves and partition growth (moves.h, topics.h); the controller answers.
  void MoveReplicas(const v1::MoveReplicasRequest& req,
                    std::function<void(grpc::Status, v1::MoveReplicasResponse)> done);
  void CancelMove(const v1::CancelMoveRequest& req,
                  std::function<void(grpc::Status, v1::CancelMoveResponse)> done);
  void ListOperations(std::function<void(grpc::Status, v1::ListOperationsResponse)> done);
  void DecommissionNode(const v1::DecommissionNodeRequest& req,
                        std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done);
  void AddPartitions(const v1::AddPartitionsRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  // A new node asks to be admitted (NodeTransport.Join; admission.h): the controller answers.
  void Join(const internal::JoinRequest& req, std::function<void(grpc::Status, internal::JoinResponse)> done);
  // Move reports a peer's batch may carry (more are ignored: a real batch carries one per moving partition the
  // peer leads, sent once a second).
  static constexpr int kMaxReportsPerBatch = 1024;
  // Samples every group's stats on the loop thread (server/host/stats.h) and hands them to `done` there. Not
  // called once stopping.
  void CollectStats(bool per_partition, std::function<void(StatsSample)> done);

 private:
  absl::Status Load();
  void Turn(std::vector<internal::MessageBatch>& inbox, std::vector<Loop::Task>& tasks, bool tick,
            Clock::TimePoint now);
  void Step(internal::GroupMessage& gm);  // moves the entries out of gm
  // The metadata group says this node was removed (its record, or a membership without it).
  bool Removed();
  // A member of the cluster: an initial member, a member of the metadata group, or a node it records and has not
  // removed; any node while this one knows no configuration (a joined node before its first snapshot).
  bool IsClusterNode(raft::NodeId id) const;
  // After the Ready cycle: leadership, transfers, the led-group count and readiness.
  void FollowLeadership();
  void PublishCluster();
  // Posts `run` to the loop; when the node is stopping, `stopped` runs instead with the shutdown status.
  void Post(Loop::Task run, std::function<void(const grpc::Status&)> stopped);

  const HostOptions options_;
  storage::Store* const store_;
  Network* const network_;
  Clock* const clock_;

  // Loop thread only, except where noted.
  DiskGuard disk_;
  GroupRegistry groups_;
  HostContext ctx_;
  GroupCommit group_commit_;
  ProduceHandler produce_;
  ProducersHandler producers_;
  OffsetsHandler offsets_;
  GroupCoordinatorHandler coordinator_;
  TopicsHandler topics_;
  Maintenance maintenance_;
  Members members_;
  ReplicaMoves moves_;
  Admission admission_;
  LeaderHints leader_hints_;
  Quiescence quiescence_;
  Clock::TimePoint next_publish_;
  raft::Index published_applied_ = 0;  // the metadata group's applied index the published view was built at
  Clock::TimePoint next_retention_;
  raft::Index metadata_commit_at_start_ = 0;
  bool removed_ = false;
  bool member_seen_ = false;  // the metadata group's configuration named this node once (a joined node's is not)
  std::unique_ptr<CompactionWorker> compaction_;  // made by Start or StartManual; stopped by Stop
  Loop loop_;                                     // last: its thread uses everything above

  // Published views (guarded by mu_ for the pointer swap).
  mutable std::mutex mu_;
  std::shared_ptr<const ClusterView> cluster_view_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> removed_flag_{false};
  std::atomic<int> led_groups_{0};
};

}  // namespace brook::server
