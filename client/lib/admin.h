// Topic and cluster administration. Blocking calls, each under the connection's call_timeout with retries
// (connection.h). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/v1/admin.pb.h"
#include "client/lib/connection.h"

namespace brook::client {

class Admin {
 public:
  explicit Admin(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}

  // Served by the controller. replication_factor 0 means the cluster's default (3 or the node count).
  absl::StatusOr<v1::Topic> CreateTopic(const std::string& name, uint32_t partitions,
                                        uint32_t replication_factor = 0, const v1::TopicConfig& config = {});
  absl::Status DeleteTopic(const std::string& name);
  // Served by the controller: the config fields `set` names ("retention_ms", "retention_bytes",
  // "tombstone_retention_ms", "min_compaction_lag_ms") take their values from `config`. Safe to retry (it sets
  // values). expected_topic_id 0 means whichever incarnation of the name exists. Returns the topic as changed.
  absl::StatusOr<v1::Topic> AlterTopic(const std::string& name, const std::vector<std::string>& set,
                                       const v1::TopicConfig& config, uint64_t expected_topic_id = 0);
  absl::StatusOr<std::vector<v1::Topic>> ListTopics();
  absl::StatusOr<v1::Topic> DescribeTopic(const std::string& name);
  absl::StatusOr<v1::DescribeClusterResponse> DescribeCluster();
  absl::StatusOr<v1::GetMetadataResponse> GetMetadata(const std::vector<std::string>& topics = {});
  // Sent to the partition's leader. target 0 lets the leader choose.
  absl::StatusOr<v1::TransferLeadershipResponse> TransferLeadership(const std::string& topic, uint32_t partition,
                                                                    uint64_t target_node_id = 0);
  absl::StatusOr<v1::Limits> GetLimits();
  // Served by the controller; safe to retry. Returns the setting as it now is.
  absl::StatusOr<v1::SetLeaderBalancerResponse> SetLeaderBalancer(bool paused);

  // Replica moves and partition growth, served by the controller (admin.proto documents each refusal).
  // MoveReplicas with dry_run only checks and plans. ListOperations gives the running moves with their progress.
  absl::StatusOr<v1::MoveReplicasResponse> MoveReplicas(const std::string& topic, uint32_t partition,
                                                        const std::vector<uint64_t>& replicas,
                                                        bool dry_run = false);
  absl::StatusOr<v1::CancelMoveResponse> CancelMove(const std::string& topic, uint32_t partition);
  absl::StatusOr<v1::ListOperationsResponse> ListOperations();
  // Moves every replica off `node_id`, then takes it out of the cluster (dry_run: checks and plan only).
  // replacement_node_id: every replica goes to that node (`brook cluster replace`); 0 lets the controller pick.
  // cancel: stops the node's running decommission instead (its running moves are cancelled; it is ACTIVE again).
  absl::StatusOr<v1::DecommissionNodeResponse> DecommissionNode(uint64_t node_id, bool dry_run = false,
                                                                uint64_t replacement_node_id = 0,
                                                                bool cancel = false);
  // Grows `topic` to `partition_count` partitions.
  absl::StatusOr<v1::Topic> AddPartitions(const std::string& topic, uint32_t partition_count);

  // Polls DescribeTopic (with backoff) until every partition of `topic` has a leader, or `timeout` passes.
  // NOT_FOUND is waited out too (a node may not have applied a topic the controller just created).
  absl::StatusOr<v1::Topic> WaitForLeaders(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  // One call of `method` (a v1::Admin::Stub member) at the controller.
  template <typename Response, typename Request, typename Method>
  absl::StatusOr<Response> AtController(const Request& request, bool idempotent, Method method);

  std::shared_ptr<Connection> connection_;
};

}  // namespace brook::client
