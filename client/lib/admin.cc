#include "client/lib/admin.h"

#include <thread>

#include "absl/strings/str_cat.h"

namespace brook::client {

absl::StatusOr<v1::Topic> Admin::CreateTopic(const std::string& name, uint32_t partitions,
                                             uint32_t replication_factor, const v1::TopicConfig& config) {
  v1::CreateTopicRequest request;
  request.set_name(name);
  request.set_partitions(partitions);
  request.set_replication_factor(replication_factor);
  *request.mutable_config() = config;
  v1::CreateTopicResponse response;
  absl::Status s = connection_->Call(Route::Controller(), connection_->DefaultDeadline(), /*idempotent=*/false,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->CreateTopic(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return response.topic();
}

absl::Status Admin::DeleteTopic(const std::string& name) {
  v1::DeleteTopicRequest request;
  request.set_name(name);
  v1::DeleteTopicResponse response;
  return connection_->Call(Route::Controller(), connection_->DefaultDeadline(), /*idempotent=*/false,
                           [&](grpc::ClientContext* ctx, NodeStubs* node) {
                             return node->admin->DeleteTopic(ctx, request, &response);
                           });
}

absl::StatusOr<v1::Topic> Admin::AlterTopic(const std::string& name, const std::vector<std::string>& set,
                                            const v1::TopicConfig& config, uint64_t expected_topic_id) {
  v1::AlterTopicRequest request;
  request.set_name(name);
  for (const auto& field : set) request.add_set(field);
  *request.mutable_config() = config;
  request.set_expected_topic_id(expected_topic_id);
  v1::AlterTopicResponse response;
  absl::Status s = connection_->Call(
      Route::Controller(), connection_->DefaultDeadline(), /*idempotent=*/true,
      [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->admin->AlterTopic(ctx, request, &response); });
  if (!s.ok()) return s;
  return response.topic();
}

absl::StatusOr<v1::SetLeaderBalancerResponse> Admin::SetLeaderBalancer(bool paused) {
  v1::SetLeaderBalancerRequest request;
  request.set_paused(paused);
  v1::SetLeaderBalancerResponse response;
  absl::Status s = connection_->Call(Route::Controller(), connection_->DefaultDeadline(), /*idempotent=*/true,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->SetLeaderBalancer(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return response;
}

template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Admin::AtController(const Request& request, bool idempotent, Method method) {
  Response response;
  absl::Status s = connection_->Call(Route::Controller(), connection_->DefaultDeadline(), idempotent,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return ((*node->admin).*method)(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::MoveReplicasResponse> Admin::MoveReplicas(const std::string& topic, uint32_t partition,
                                                             const std::vector<uint64_t>& replicas, bool dry_run) {
  v1::MoveReplicasRequest request;
  request.set_topic(topic);
  request.set_partition(partition);
  for (uint64_t n : replicas) request.add_replicas(n);
  request.set_dry_run(dry_run);
  return AtController<v1::MoveReplicasResponse>(request, dry_run, &v1::Admin::Stub::MoveReplicas);
}

absl::StatusOr<v1::CancelMoveResponse> Admin::CancelMove(const std::string& topic, uint32_t partition) {
  v1::CancelMoveRequest request;
  request.set_topic(topic);
  request.set_partition(partition);
  return AtController<v1::CancelMoveResponse>(request, false, &v1::Admin::Stub::CancelMove);
}

absl::StatusOr<v1::ListOperationsResponse> Admin::ListOperations() {
  return AtController<v1::ListOperationsResponse>(v1::ListOperationsRequest(), true,
                                                  &v1::Admin::Stub::ListOperations);
}

absl::StatusOr<v1::DecommissionNodeResponse> Admin::DecommissionNode(uint64_t node_id, bool dry_run,
                                                                     uint64_t replacement_node_id, bool cancel) {
  v1::DecommissionNodeRequest request;
  request.set_node_id(node_id);
  request.set_dry_run(dry_run);
  request.set_replacement_node_id(replacement_node_id);
  request.set_cancel(cancel);
  return AtController<v1::DecommissionNodeResponse>(request, dry_run, &v1::Admin::Stub::DecommissionNode);
}

absl::StatusOr<v1::Topic> Admin::AddPartitions(const std::string& topic, uint32_t partition_count) {
  v1::AddPartitionsRequest request;
  request.set_topic(topic);
  request.set_partition_count(partition_count);
  auto r = AtController<v1::AddPartitionsResponse>(request, false, &v1::Admin::Stub::AddPartitions);
  if (!r.ok()) return r.status();
  return r->topic();
}

absl::StatusOr<std::vector<v1::Topic>> Admin::ListTopics() {
  v1::ListTopicsResponse response;
  absl::Status s = connection_->Call(Route::AnyNode(), connection_->DefaultDeadline(), /*idempotent=*/true,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->ListTopics(ctx, v1::ListTopicsRequest(), &response);
                                     });
  if (!s.ok()) return s;
  return std::vector<v1::Topic>(response.topics().begin(), response.topics().end());
}

absl::StatusOr<v1::Topic> Admin::DescribeTopic(const std::string& name) {
  v1::DescribeTopicRequest request;
  request.set_name(name);
  v1::DescribeTopicResponse response;
  absl::Status s = connection_->Call(Route::AnyNode(), connection_->DefaultDeadline(), /*idempotent=*/true,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->DescribeTopic(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  return response.topic();
}

absl::StatusOr<v1::DescribeClusterResponse> Admin::DescribeCluster() {
  v1::DescribeClusterResponse response;
  absl::Status s =
      connection_->Call(Route::AnyNode(), connection_->DefaultDeadline(), /*idempotent=*/true,
                        [&](grpc::ClientContext* ctx, NodeStubs* node) {
                          return node->admin->DescribeCluster(ctx, v1::DescribeClusterRequest(), &response);
                        });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::GetMetadataResponse> Admin::GetMetadata(const std::vector<std::string>& topics) {
  return connection_->RefreshMetadata(topics, connection_->DefaultDeadline());
}

absl::StatusOr<v1::TransferLeadershipResponse> Admin::TransferLeadership(const std::string& topic,
                                                                         uint32_t partition,
                                                                         uint64_t target_node_id) {
  v1::TransferLeadershipRequest request;
  request.set_topic(topic);
  request.set_partition(partition);
  request.set_target_node_id(target_node_id);
  v1::TransferLeadershipResponse response;
  absl::Status s = connection_->Call(Route::Leader(topic, partition), connection_->DefaultDeadline(),
                                     /*idempotent=*/false, [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->TransferLeadership(ctx, request, &response);
                                     });
  if (!s.ok()) return s;
  connection_->ForgetLeader(topic, partition);  // the cache names the old leader
  return response;
}

absl::StatusOr<v1::Limits> Admin::GetLimits() {
  v1::Limits response;
  absl::Status s = connection_->Call(Route::AnyNode(), connection_->DefaultDeadline(), /*idempotent=*/true,
                                     [&](grpc::ClientContext* ctx, NodeStubs* node) {
                                       return node->admin->GetLimits(ctx, v1::GetLimitsRequest(), &response);
                                     });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::Topic> Admin::WaitForLeaders(const std::string& topic, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Backoff backoff(BackoffOptions{std::chrono::milliseconds(10), std::chrono::milliseconds(200), 2.0, 0.5});
  absl::Status last = absl::DeadlineExceededError("no answer");
  for (int i = 0; i < 10000 && Clock::now() < deadline; ++i) {
    auto t = DescribeTopic(topic);
    if (!t.ok()) {
      // NOT_FOUND too: a node that has not yet applied a just-created topic does not know it.
      if (t.status().code() != absl::StatusCode::kUnavailable &&
          t.status().code() != absl::StatusCode::kNotFound) {
        return t.status();
      }
      last = t.status();
    } else {
      bool all = t->partitions_size() > 0;
      for (const auto& p : t->partitions()) all = all && p.leader_id() != 0;
      if (all) {
        (void)connection_->Topic(topic, deadline, /*refresh=*/true);
        return *t;
      }
      last =
          absl::DeadlineExceededError(absl::StrCat("topic '", topic, "' still has partitions without a leader"));
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff.Next(), deadline - Clock::now()));
  }
  return last;
}

}  // namespace brook::client
