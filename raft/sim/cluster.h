// A scripted in-process cluster: nodes over MemoryLogs and a FIFO network the test drives by hand (deliver this,
// drop that, partition, heal). Everything is synchronous and deterministic. The scenario tests
// (interaction_test.cc), the unit tests and the benchmark drive Raft through it.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/sim/replica.h"

namespace brook::raft::sim {

class Cluster {
 public:
  // `base` is the Config template for every node (id and seed are filled in per node). Unless `base` has its own,
  // is_cluster_node answers from the nodes added to this cluster (joining ones included), as a host with a peer
  // list would.
  explicit Cluster(Config base = Config());

  // Adds n nodes with the next ids. With `conf` set they bootstrap with it; otherwise with all nodes added by this
  // call as voters. Nodes meant to join later get an empty conf (pass ConfState{}).
  absl::Status AddNodes(int n, std::optional<ConfState> conf = std::nullopt);
  Replica& replica(NodeId id) { return replicas_.at(id); }
  RaftNode& node(NodeId id) { return *replicas_.at(id).raft; }
  std::vector<NodeId> ids() const;

  // Handles one node's Ready: persist, apply, queue its messages on the network, Advance. When `trace` is set,
  // appends what happened to it. Returns false if the node had nothing ready.
  bool ProcessReady(NodeId id, std::vector<std::string>* trace = nullptr);
  // Delivers queued messages in FIFO order: all, or only those addressed to `to`. Messages addressed to a node in
  // `drop_to` are discarded instead. Messages crossing a partition or to a down node are discarded silently.
  // Returns the number delivered.
  int Deliver(std::optional<NodeId> to, const std::set<NodeId>& drop_to,
              std::vector<std::string>* trace = nullptr);
  // Processes Readies and delivers messages until nothing moves.
  void Stabilize(std::vector<std::string>* trace = nullptr);
  // Ticks a node `n` times (then the caller processes its Ready).
  void Tick(NodeId id, int n = 1);

  // Partition: nodes in different groups cannot talk. Nodes not named stay connected to everyone.
  void Partition(const std::vector<std::vector<NodeId>>& groups);
  // One-way cut: messages from `from` to `to` are dropped.
  void Cut(NodeId from, NodeId to) { cut_.insert({from, to}); }
  void Heal() { cut_.clear(); }

  absl::Status Crash(NodeId id);
  absl::Status Restart(NodeId id);

  std::deque<Message>& network() { return network_; }

 private:
  bool Connected(NodeId from, NodeId to) const { return !cut_.contains({from, to}); }

  Config base_;
  // Shared with every node's Config::is_cluster_node, so it stays valid when the Cluster is moved.
  std::shared_ptr<std::set<NodeId>> cluster_nodes_ = std::make_shared<std::set<NodeId>>();
  std::map<NodeId, Replica> replicas_;
  std::deque<Message> network_;
  std::set<std::pair<NodeId, NodeId>> cut_;
};

// Transcript helpers (stable formats used by testdata/*.txt).
std::string DescribeReady(const Ready& rd);
std::string DescribeLog(const Replica& r);
std::string DescribeStatus(const RaftNode& n);

}  // namespace brook::raft::sim
