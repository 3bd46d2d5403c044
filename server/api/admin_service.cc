// brook.v1.Admin: topic changes and leadership transfers go through the host loop (the controller or the
// partition leader); reads (ListTopics, DescribeCluster, GetMetadata, GetLimits) are served from the published
// cluster view on gRPC's threads.
#include "absl/strings/str_cat.h"
#include "server/api/call_support.h"
#include "server/api/read_path.h"
#include "server/api/services.h"
#include "server/api/validate.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CreateTopic(grpc::CallbackServerContext* context, const v1::CreateTopicRequest* req,
                                        v1::CreateTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateCreateTopic(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::TOPIC, req->name()); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->CreateTopic(*req, [reactor, resp](grpc::Status s, v1::Topic t) {
      if (s.ok()) *resp->mutable_topic() = std::move(t);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DeleteTopic(grpc::CallbackServerContext* context, const v1::DeleteTopicRequest* req,
                                        v1::DeleteTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateUserTopic("name", req->name(), "deleted")); !s.ok()) {
      return RejectWrite(reactor, s);
    }
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::TOPIC, req->name()); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->DeleteTopic(req->name(), [reactor](grpc::Status s) { FinishWrite(reactor, s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* AlterTopic(grpc::CallbackServerContext* context, const v1::AlterTopicRequest* req,
                                       v1::AlterTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateAlterTopic(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::TOPIC, req->name()); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->AlterTopic(*req, [reactor, resp](grpc::Status s, v1::Topic t) {
      if (s.ok()) *resp->mutable_topic() = std::move(t);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* SetLeaderBalancer(grpc::CallbackServerContext* context,
                                              const v1::SetLeaderBalancerRequest* req,
                                              v1::SetLeaderBalancerResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->SetLeaderBalancer(req->paused(), [reactor, resp](grpc::Status s, v1::SetLeaderBalancerResponse r) {
      if (s.ok()) *resp = std::move(r);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* MoveReplicas(grpc::CallbackServerContext* context, const v1::MoveReplicasRequest* req,
                                         v1::MoveReplicasResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateMoveReplicas(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->MoveReplicas(*req, [reactor, resp](grpc::Status s, v1::MoveReplicasResponse r) {
      if (s.ok()) *resp = std::move(r);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* CancelMove(grpc::CallbackServerContext* context, const v1::CancelMoveRequest* req,
                                       v1::CancelMoveResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateTopicName("topic", req->topic())); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->CancelMove(*req, [reactor, resp](grpc::Status s, v1::CancelMoveResponse r) {
      if (s.ok()) *resp = std::move(r);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ListOperations(grpc::CallbackServerContext* context,
                                           const v1::ListOperationsRequest* req,
                                           v1::ListOperationsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::CLUSTER, ""); !s.ok()) return Reject(reactor, s);
    ctx_->host->ListOperations([reactor, resp](grpc::Status s, v1::ListOperationsResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* AddPartitions(grpc::CallbackServerContext* context,
                                          const v1::AddPartitionsRequest* req,
                                          v1::AddPartitionsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateAddPartitions(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::TOPIC, req->topic()); !s.ok())
      return RejectWrite(reactor, s);
    ctx_->host->AddPartitions(*req, [reactor, resp](grpc::Status s, v1::Topic t) {
      if (s.ok()) *resp->mutable_topic() = std::move(t);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DecommissionNode(grpc::CallbackServerContext* context,
                                             const v1::DecommissionNodeRequest* req,
                                             v1::DecommissionNodeResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    grpc::Status valid =
        req->node_id() == 0 ? InvalidField("node_id", "is 0; node ids start at 1") : grpc::Status::OK;
    if (auto s = Admit(*ctx_, valid); !s.ok()) return RejectWrite(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return RejectWrite(reactor, s);
    ctx_->host->DecommissionNode(*req, [reactor, resp](grpc::Status s, v1::DecommissionNodeResponse r) {
      if (s.ok()) *resp = std::move(r);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* context, const v1::ListTopicsRequest* req,
                                       v1::ListTopicsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    Principal who;
    if (auto s = Authenticated(*ctx_, context, &who); !s.ok()) return Reject(reactor, s);
    auto cluster = ctx_->host->cluster();
    for (const auto& [name, t] : cluster->metadata.topics()) {
      if (Allows(*ctx_, who, v1::DESCRIBE, v1::TOPIC, name)) *resp->add_topics() = TopicToApi(t);
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* DescribeTopic(grpc::CallbackServerContext* context,
                                          const v1::DescribeTopicRequest* req,
                                          v1::DescribeTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateTopicName("name", req->name())); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::TOPIC, req->name()); !s.ok()) return Reject(reactor, s);
    ctx_->host->DescribeTopic(req->name(), [reactor, resp](grpc::Status s, v1::Topic t) {
      if (s.ok()) *resp->mutable_topic() = std::move(t);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DescribeCluster(grpc::CallbackServerContext* context,
                                            const v1::DescribeClusterRequest* req,
                                            v1::DescribeClusterResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, grpc::Status::OK); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::CLUSTER, ""); !s.ok()) return Reject(reactor, s);
    auto cluster = ctx_->host->cluster();
    resp->set_cluster_id(cluster_id_);
    resp->set_controller_id(ctx_->host->ready() ? cluster->controller : 0);
    resp->set_metadata_term(cluster->controller_term);
    resp->set_answered_by(ctx_->self);
    resp->set_leader_balancer_paused(cluster->metadata.leader_balancer_paused());
    FillNodes(*cluster, resp->mutable_nodes());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* context, const v1::GetMetadataRequest* req,
                                        v1::GetMetadataResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateGetMetadata(*req)); !s.ok()) return Reject(reactor, s);
    Principal who;
    if (auto s = Authenticated(*ctx_, context, &who); !s.ok()) return Reject(reactor, s);
    auto cluster = ctx_->host->cluster();
    FillNodes(*cluster, resp->mutable_nodes());
    resp->set_controller_id(cluster->controller);
    auto add = [&](const internal::TopicRecord& t) {
      v1::Topic* topic = resp->add_topics();
      *topic = TopicToApi(t);
      for (const auto& p : t.partitions()) {
        auto* info = topic->add_partitions();
        info->set_partition(p.partition());
        info->set_group_id(p.group_id());
        for (auto r : p.replicas()) info->add_replicas(r);
        *info->mutable_target_replicas() = p.target_replicas();
        if (auto view = cluster->Find(t.name(), p.partition())) {
          info->set_leader_id(view->leader());
          info->set_leader_term(view->term());
          info->set_high_watermark(view->high_watermark());
          info->set_log_start_offset(view->log_start_offset());
        } else {
          // Hosted elsewhere: its leader as announced (offsets stay 0; ask the leader for them).
          const auto [leader, term] = cluster->HintedLeader(p.group_id());
          info->set_leader_id(leader);
          info->set_leader_term(term);
        }
      }
    };
    if (req->topics_size() == 0) {
      for (const auto& [name, t] : cluster->metadata.topics()) {
        if (Allows(*ctx_, who, v1::DESCRIBE, v1::TOPIC, name)) add(t);
      }
    } else {
      for (const auto& name : req->topics()) {
        auto it = cluster->metadata.topics().find(name);
        if (it == cluster->metadata.topics().end()) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")));
          return reactor;
        }
        if (!Allows(*ctx_, who, v1::DESCRIBE, v1::TOPIC, name)) {
          return Reject(reactor, Allow(*ctx_, context, v1::DESCRIBE, v1::TOPIC, name));
        }
        add(it->second);
      }
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* TransferLeadership(grpc::CallbackServerContext* context,
                                               const v1::TransferLeadershipRequest* req,
                                               v1::TransferLeadershipResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateTopicName("topic", req->topic())); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::ADMIN, v1::CLUSTER, ""); !s.ok()) return Reject(reactor, s);
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    ctx_->host->TransferLeadership(*req, [reactor, resp](grpc::Status s, v1::TransferLeadershipResponse r) {
      if (s.ok()) *resp = r;
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetLimits(grpc::CallbackServerContext* context, const v1::GetLimitsRequest* req,
                                      v1::Limits* resp) override {
    auto* reactor = context->DefaultReactor();
    Principal who;
    if (auto s = Authenticated(*ctx_, context, &who); !s.ok()) return Reject(reactor, s);
    resp->set_max_record_bytes(Limits::kMaxRecordBytes);
    resp->set_max_batch_records(Limits::kMaxBatchRecords);
    resp->set_max_batch_bytes(Limits::kMaxBatchBytes);
    resp->set_max_fetch_records(Limits::kMaxFetchRecords);
    resp->set_max_fetch_bytes(Limits::kMaxFetchBytes);
    resp->set_max_wait_ms(Limits::kMaxWaitMs);
    resp->set_max_partitions_per_topic(Limits::kMaxPartitionsPerTopic);
    resp->set_max_topic_name_length(Limits::kMaxTopicNameLength);
    resp->set_max_headers_per_record(Limits::kMaxHeadersPerRecord);
    resp->set_idempotence_window_batches(Limits::kIdempotenceWindowBatches);
    resp->set_max_replication_factor(Limits::kMaxReplicationFactor);
    resp->set_max_message_bytes(Limits::kMaxMessageBytes);
    resp->set_max_group_name_length(Limits::kMaxGroupNameLength);
    resp->set_producer_retention_ms(Limits::kProducerRetentionMs);
    resp->set_max_producers_per_partition(Limits::kMaxProducersPerPartition);
    resp->set_max_named_producers(Limits::kMaxNamedProducers);
    resp->set_max_topics_per_cluster(Limits::kMaxTopicsPerCluster);
    resp->set_max_partitions_per_cluster(Limits::kMaxPartitionsPerCluster);
    resp->set_max_groups_per_partition(Limits::kMaxGroupsPerPartition);
    resp->set_max_topics_per_request(Limits::kMaxTopicsPerRequest);
    resp->set_max_compaction_time_ms(Limits::kMaxCompactionTimeMs);
    resp->set_group_coordinator_partitions(Limits::kGroupCoordinatorPartitions);
    resp->set_max_members_per_group(Limits::kMaxMembersPerGroup);
    resp->set_max_groups_per_coordinator(Limits::kMaxGroupsPerCoordinator);
    resp->set_max_topics_per_group(Limits::kMaxTopicsPerGroup);
    resp->set_max_partitions_per_group(Limits::kMaxPartitionsPerGroup);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  void set_cluster_id(std::string id) { cluster_id_ = std::move(id); }

 private:
  void FillNodes(const ClusterView& cluster, google::protobuf::RepeatedPtrField<v1::Node>* out) {
    for (auto id : cluster.nodes) {
      auto* n = out->Add();
      n->set_id(id);
      n->set_client_address(cluster.ClientAddress(id));
      if (auto it = cluster.metrics_addresses.find(id); it != cluster.metrics_addresses.end()) {
        n->set_metrics_address(it->second);
      }
      n->set_reachable(reachable_ ? reachable_(id) : id == ctx_->self);
      if (auto rec = cluster.metadata.nodes().find(id); rec != cluster.metadata.nodes().end()) {
        n->set_state(rec->second.state());
        n->set_peer_address(rec->second.peer_address());
      }
    }
  }

 public:
  std::function<bool(uint64_t)> reachable_;

 private:
  ServiceContext* ctx_;
  std::string cluster_id_;
};

}  // namespace

std::unique_ptr<v1::Admin::CallbackService> MakeAdminService(ServiceContext* ctx) {
  auto admin = std::make_unique<AdminService>(ctx);
  admin->set_cluster_id(ctx->cluster_id);
  admin->reachable_ = ctx->reachable;
  return admin;
}

}  // namespace brook::server
