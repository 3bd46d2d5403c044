// Read-side views of the host's state, shared with the gRPC threads.
//
// The host loop owns all Raft and state-machine state. After each turn it publishes what readers need here:
// per hosted partition a PartitionView (atomics plus a waiter list), and for the cluster an immutable
// ClusterView swapped as a whole. Fetch and Subscribe read these and storage directly, without a hop through the
// loop, so reads never wait behind writes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "brook/internal/state.pb.h"
#include "raft/types.h"

namespace brook::server {

// One partition hosted on this node. Shared (shared_ptr) between the host and in-flight reads: a read that
// outlives a DeleteTopic sees `deleted` and stops.
class PartitionView {
 public:
  PartitionView(raft::GroupId group, std::string topic, uint32_t partition, uint64_t topic_id)
      : group_(group), topic_(std::move(topic)), partition_(partition), topic_id_(topic_id) {}

  raft::GroupId group() const { return group_; }
  const std::string& topic() const { return topic_; }
  uint32_t partition() const { return partition_; }
  uint64_t topic_id() const { return topic_id_; }

  // The high watermark: end offset of the last applied (committed) entry. Readers serve offsets below it.
  uint64_t high_watermark() const { return high_watermark_.load(std::memory_order_acquire); }
  // Index of the last applied entry: the highest log index a reader may read.
  raft::Index applied_index() const { return applied_index_.load(std::memory_order_acquire); }
  uint64_t log_start_offset() const { return log_start_offset_.load(std::memory_order_acquire); }
  raft::NodeId leader() const { return leader_.load(std::memory_order_acquire); }
  raft::Term term() const { return term_.load(std::memory_order_acquire); }
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }
  // The node is stopping: nothing more will be published (readers answer UNAVAILABLE, not "deleted").
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // The node no longer holds a replica (it moved off; server/host/moves.h): readers go to another node.
  bool moved() const { return moved_.load(std::memory_order_acquire); }
  bool closed() const { return deleted() || stopped() || moved(); }

  // Calls `fn` once, on the host thread or at once on the caller's, when the high watermark exceeds `offset`,
  // or the partition is deleted or its node stops. Returns an id for Cancel. `fn` must be cheap and must not
  // block: hand work off.
  uint64_t WaitBeyond(uint64_t offset, std::function<void()> fn);
  // Removes a waiter that has not fired; false if it already fired (or is firing).
  bool Cancel(uint64_t id);

  // Host thread only.
  void Publish(raft::Index applied_index, uint64_t high_watermark, uint64_t log_start_offset, raft::NodeId leader,
               raft::Term term);
  void MarkDeleted();
  void MarkStopped();
  void MarkMoved();

 private:
  struct Waiter {
    uint64_t id;
    uint64_t offset;
    std::function<void()> fn;
  };
  void FireReady(uint64_t hwm, bool all);

  const raft::GroupId group_;
  const std::string topic_;
  const uint32_t partition_;
  const uint64_t topic_id_;
  std::atomic<uint64_t> high_watermark_{0};
  std::atomic<raft::Index> applied_index_{0};
  std::atomic<uint64_t> log_start_offset_{0};
  std::atomic<raft::NodeId> leader_{0};
  std::atomic<raft::Term> term_{0};
  std::atomic<bool> deleted_{false};
  std::atomic<bool> moved_{false};
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  uint64_t next_waiter_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
};

// The cluster as this node knows it: immutable once published.
struct ClusterView {
  internal::MetadataState metadata;
  // Metadata group (controller) leadership.
  raft::NodeId controller = 0;
  raft::Term controller_term = 0;
  // Nodes of the cluster (voters of the metadata group) and their public addresses where known.
  std::vector<raft::NodeId> nodes;
  std::map<raft::NodeId, std::string> client_addresses;
  std::map<raft::NodeId, std::string> metrics_addresses;
  // Partitions hosted here, by (topic, partition).
  std::map<std::pair<std::string, uint32_t>, std::shared_ptr<PartitionView>> partitions;
  // Leaders of partition groups hosted elsewhere, as their leaders announce them (leader_hints.h): group id ->
  // (leader, term).
  std::map<uint64_t, std::pair<raft::NodeId, raft::Term>> leader_hints;

  // The hinted leader and term of a group this node does not host; {0, 0} when none is known.
  std::pair<raft::NodeId, raft::Term> HintedLeader(uint64_t group_id) const {
    auto it = leader_hints.find(group_id);
    return it == leader_hints.end() ? std::pair<raft::NodeId, raft::Term>{0, 0} : it->second;
  }

  std::shared_ptr<PartitionView> Find(const std::string& topic, uint32_t partition) const {
    auto it = partitions.find({topic, partition});
    return it == partitions.end() ? nullptr : it->second;
  }
  std::string ClientAddress(raft::NodeId id) const {
    auto it = client_addresses.find(id);
    return it == client_addresses.end() ? "" : it->second;
  }
};

}  // namespace brook::server
