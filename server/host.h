// The multi-Raft host (DESIGN.md decision 2): one thread drives every Raft group of the node.
//
// One turn of the loop:
//   1. take the inbox: Raft messages from peers and tasks posted by gRPC threads (proposals, admin calls);
//   2. tick every group when a tick interval has passed;
//   3. collect the Ready of every group; send the messages that may leave before the sync (the leader's appends);
//   4. write all groups' entries and hard states in ONE storage Write (one WriteBatch, one fsync) — group commit;
//   5. send the messages that promise durability (votes, append responses), batched per destination node;
//   6. apply committed entries (answer waiting Produce calls, publish high watermarks, wake Fetch waiters),
//      write the state machines' changes (unsynced: they are rebuilt from the log after a crash); Advance.
// Messages of a turn go out as one MessageBatch per peer.
//
// Threads: every member below is owned by the loop thread unless it says otherwise. Other threads talk to the host
// only through Post/Deliver (queues) and read only the published views (views.h). Completion callbacks of
// operations run on the loop thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "brook/internal/state.pb.h"
#include "brook/internal/transport.pb.h"
#include "brook/v1/admin.pb.h"
#include "brook/v1/groups.pb.h"
#include "brook/v1/log.pb.h"
#include "grpcpp/support/status.h"
#include "raft/raft.h"
#include "server/metadata_machine.h"
#include "server/partition_machine.h"
#include "server/transport.h"
#include "server/views.h"
#include "storage/store.h"

namespace brook::server {

class HostMetrics;

// Safety rules brookd can be told to break, for tests of the fault-injection checker only.
enum class UnsafeBreak {
  kNone,
  kAckBeforeCommit,  // Produce answers once the leader has proposed, before a majority holds the entry
  kReadPastCommit,   // readers are served the leader's or follower's uncommitted log tail
  kSkipIdempotence,  // every produce is treated as new: retries of applied batches are appended again
  kSkipSync,         // Raft's log and votes are written without fsync
};
// Parses "none", "ack_before_commit", "read_past_commit", "skip_idempotence" or "skip_sync".
absl::StatusOr<UnsafeBreak> ParseUnsafeBreak(absl::string_view name);

struct HostOptions {
  raft::NodeId node_id = 0;
  std::string cluster_id;
  // Voters of the metadata group when this node bootstraps it (first start with an empty data directory).
  std::vector<raft::NodeId> initial_members;
  std::chrono::milliseconds tick{50};
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  // How often each partition's retention (topic config retention_ms / retention_bytes) is enforced.
  std::chrono::milliseconds retention_interval{5000};
  // A deliberately broken safety rule, for the fault-injection suite to prove that its checker catches each
  // kind of violation (brookd --unsafe_break). kNone in every real deployment.
  UnsafeBreak unsafe_break = UnsafeBreak::kNone;
};

class Host {
 public:
  Host(HostOptions options, storage::Store* store, Transport* transport);
  ~Host();

  // Loads every group this node hosts from storage and starts the loop thread.
  absl::Status Start();
  // Stops the loop after its current turn; pending operations fail with UNAVAILABLE. Idempotent.
  void Stop();

  // ---- Any thread --------------------------------------------------------------------------------------------
  void Post(std::function<void()> task);
  void Deliver(internal::MessageBatch&& batch);
  std::shared_ptr<const ClusterView> cluster() const;
  // The node has a metadata leader and has applied the metadata log as far as it knew it committed at start, and
  // no peer refuses it (Transport::refused: a node whose data directory its peers do not know is never ready).
  bool ready() const { return ready_.load(std::memory_order_acquire) && !transport_->refused(); }
  storage::Store* store() const { return store_; }
  raft::NodeId node_id() const { return options_.node_id; }
  // Groups this node leads that have other voters to hand leadership to (approximate; shutdown progress).
  int led_groups() const { return led_groups_.load(std::memory_order_relaxed); }
  void set_metrics(HostMetrics* metrics) { metrics_ = metrics; }

  // ---- Operations: call from any thread; `done` runs once, on the loop thread
  // -----------------------------------
  using ProduceDone = std::function<void(grpc::Status, v1::ProduceResponse)>;
  struct ProduceArgs {
    std::string topic;
    uint32_t partition = 0;
    uint64_t producer_id = 0;
    uint64_t sequence = 0;
    uint32_t record_count = 0;
    std::optional<uint64_t> expected_offset;
  };
  // `entry_data` is EncodeRecordBatch(request), encoded by the caller's thread (the records are not copied again).
  void Produce(ProduceArgs args, std::string entry_data, ProduceDone done);

  void CreateTopic(const v1::CreateTopicRequest& req, std::function<void(grpc::Status, v1::Topic)> done);
  void DeleteTopic(const std::string& name, std::function<void(grpc::Status)> done);
  // Fills each partition's live state (leader, caught-up replicas, offsets) of a topic.
  void DescribeTopic(const std::string& name, std::function<void(grpc::Status, v1::Topic)> done);
  void TransferLeadership(const v1::TransferLeadershipRequest& req,
                          std::function<void(grpc::Status, v1::TransferLeadershipResponse)> done);
  void CommitOffsets(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done);
  void FetchOffsets(const v1::FetchOffsetsRequest& req,
                    std::function<void(grpc::Status, v1::FetchOffsetsResponse)> done);
  // Asks every group this node leads to hand leadership to its most caught-up other voter (graceful shutdown).
  void TransferAllLeadership();

  // A moment's state of one group, for metrics. Counters are totals since the node started.
  struct GroupStats {
    raft::GroupId group = 0;
    bool is_metadata = false;
    std::string topic;
    uint32_t partition = 0;
    raft::Term term = 0;
    raft::Index commit_index = 0;
    raft::Index applied_index = 0;
    raft::Index last_index = 0;
    raft::NodeId leader = 0;
    bool is_leader = false;
    uint64_t high_watermark = 0;
    uint64_t log_start_offset = 0;
    uint64_t log_end_offset = 0;
    // Leader only: the largest (last_index - match) over voters, and voters whose match < commit index.
    uint64_t max_follower_lag = 0;
    uint32_t under_replicated = 0;
    uint32_t replicas = 0;
    uint64_t elections_started = 0;
    uint64_t elections_won = 0;
    uint64_t leader_changes = 0;
    uint64_t snapshots_installed = 0;
    uint64_t truncations = 0;
    std::map<std::string, uint64_t> group_offsets;  // consumer group -> committed offset (partitions only)
  };
  // Gathers every group's stats on the loop thread and hands them to `done` there.
  void CollectStats(std::function<void(std::vector<GroupStats>)> done);

  // Converts a topic as stored to its API form (no live partition state).
  static v1::Topic TopicToApi(const internal::TopicRecord& t);

 private:
  struct Slot;
  struct PendingOp {
    raft::Term term;
    std::function<void(const grpc::Status&, const Slot&, const raft::Entry&, const PartitionMachine::Applied*,
                       const MetadataMachine::Applied*)>
        done;
  };

  void Run();
  void Turn(std::vector<internal::MessageBatch>& inbox, std::vector<std::function<void()>>& tasks);
  void Step(const internal::GroupMessage& gm);
  void ProcessReady();
  void ApplyCommitted(Slot& slot, const raft::Ready& rd, storage::GroupWrite& apply_write);
  void ApplyMetadataEffects(const MetadataMachine::Applied& applied);
  void NoteLeadership(Slot& slot);
  void FailPending(Slot& slot, const grpc::Status& status);
  void PublishCluster();
  void PublishPartition(Slot& slot);
  void CheckTransfers(Slot& slot);
  void EnforceRetention();
  bool Heard(const raft::ReplicaProgress& p) const;

  absl::StatusOr<Slot*> OpenGroup(raft::GroupId id, const raft::ConfState& bootstrap_conf,
                                  const internal::TopicRecord* topic, uint32_t partition);
  void CloseGroup(raft::GroupId id, bool drop_data);
  Slot* FindSlot(raft::GroupId id);
  Slot* FindPartition(const std::string& topic, uint32_t partition);
  grpc::Status NotLeaderFor(const Slot& slot) const;
  grpc::Status CheckLeaderReady(Slot& slot);
  void ProposeMetadata(const internal::MetadataCommand& cmd, PendingOp op,
                       const std::function<void(grpc::Status)>& fail);
  int64_t NowMs() const;

  const HostOptions options_;
  storage::Store* const store_;
  Transport* const transport_;
  HostMetrics* metrics_ = nullptr;

  std::thread thread_;
  // Inbox: guarded by mu_, filled by any thread, drained by the loop.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Set (under mu_) when Stop begins; read without the lock by tasks, hence atomic.
  std::atomic<bool> stopping_{false};
  bool loop_exited_ = false;  // guarded by mu_: Post runs tasks inline from then on
  std::vector<internal::MessageBatch> inbox_;
  std::vector<std::function<void()>> tasks_;

  // Loop thread only.
  std::map<raft::GroupId, std::unique_ptr<Slot>> slots_;
  MetadataMachine metadata_;
  std::map<raft::NodeId, internal::MessageBatch> outbox_;
  std::vector<raft::GroupId> to_close_;
  bool cluster_dirty_ = true;
  std::chrono::steady_clock::time_point next_tick_;
  std::chrono::steady_clock::time_point next_publish_;
  std::chrono::steady_clock::time_point next_retention_;
  raft::Index metadata_commit_at_start_ = 0;

  // Published views (guarded by mu_ for the pointer swap).
  std::shared_ptr<const ClusterView> cluster_view_;
  std::atomic<bool> ready_{false};
  std::atomic<int> led_groups_{0};
};

}  // namespace brook::server
