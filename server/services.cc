#include "server/services.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/entry_codec.h"
#include "server/errors.h"
#include "server/limits.h"
#include "server/read_path.h"
#include "server/validate.h"

namespace brook::server {
namespace {

using Clock = std::chrono::steady_clock;

grpc::Status ShuttingDown() {
  return RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down; retry on another node", 100);
}

// The first checks of a call that changes state: the node still takes requests, and the request is valid.
grpc::Status Admit(const ServiceContext& ctx, grpc::Status validation) {
  if (!ctx.accepting.load()) return ShuttingDown();
  return validation;
}

grpc::ServerUnaryReactor* Reject(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
  reactor->Finish(status);
  return reactor;
}

// Resolves (topic, partition) to the partition's view on this node, or the status that says why not.
grpc::Status FindView(const ServiceContext& ctx, const std::string& topic, uint32_t partition,
                      std::shared_ptr<PartitionView>* out) {
  auto cluster = ctx.host->cluster();
  auto it = cluster->metadata.topics().find(topic);
  if (it == cluster->metadata.topics().end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", topic, "' does not exist"));
  }
  const auto& t = it->second;
  if (partition >= static_cast<uint32_t>(t.partitions_size())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("topic '", topic, "' has ", t.partitions_size(), " partitions; partition ",
                                     partition, " does not exist"));
  }
  *out = cluster->Find(topic, partition);
  if (*out == nullptr) {
    // Not a replica here: name a replica that is, so the client can go there.
    const auto& replicas = t.partitions(static_cast<int>(partition)).replicas();
    uint64_t to = replicas.empty() ? 0 : replicas[0];
    return NotLeaderStatus(topic, partition, to, cluster->ClientAddress(to), 0);
  }
  return grpc::Status::OK;
}

grpc::Status CheckView(const PartitionView& view) {
  if (view.deleted()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", view.topic(), "' was deleted"));
  }
  return grpc::Status::OK;
}

// A one-shot wait for a partition's watermark to pass an offset, bounded by a deadline. `then` runs once, on the
// executor, with true if the watermark passed (or the partition was deleted) and false on timeout.
void WaitForWatermark(ServiceContext* ctx, std::shared_ptr<PartitionView> view, uint64_t offset,
                      Clock::time_point deadline, std::function<void(bool)> then) {
  struct State {
    std::atomic<bool> fired{false};
    std::atomic<uint64_t> waiter{0};
    std::atomic<uint64_t> timer{0};
  };
  auto state = std::make_shared<State>();
  auto fire = [ctx, state, view, then](bool passed) {
    if (state->fired.exchange(true)) return;
    ctx->executor->Submit([ctx, state, view, then, passed] {
      if (uint64_t t = state->timer.load()) ctx->timers->Cancel(t);
      if (uint64_t w = state->waiter.load()) view->Cancel(w);
      then(passed);
    });
  };
  state->timer = ctx->timers->Schedule(deadline, [fire] { fire(false); });
  uint64_t id = view->WaitBeyond(offset, [fire] { fire(true); });
  state->waiter = id;
  if (state->fired.load() && id != 0) view->Cancel(id);
}

class LogService final : public v1::Log::CallbackService {
 public:
  explicit LogService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Produce(grpc::CallbackServerContext* context, const v1::ProduceRequest* req,
                                    v1::ProduceResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateProduce(*req)); !s.ok()) return Reject(reactor, s);
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    Host::ProduceArgs args;
    args.topic = req->topic();
    args.partition = req->partition();
    args.producer_id = req->producer_id();
    args.sequence = req->sequence();
    args.record_count = static_cast<uint32_t>(req->records_size());
    if (req->has_expected_offset()) args.expected_offset = req->expected_offset();
    ctx_->host->Produce(std::move(args), EncodeRecordBatch(*req),
                        [reactor, resp](grpc::Status s, v1::ProduceResponse r) {
                          if (s.ok()) *resp = std::move(r);
                          reactor->Finish(s);
                        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context, const v1::FetchRequest* req,
                                  v1::FetchResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateFetch(*req)); !s.ok()) return Reject(reactor, s);
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    auto deadline = Clock::now() + std::chrono::milliseconds(req->max_wait_ms());
    auto read = [this, reactor, req, resp, view, deadline]() {
      if (auto s = CheckView(*view); !s.ok()) return reactor->Finish(s);
      resp->Clear();
      auto s =
          ReadRecords(*ctx_->store, *view, req->offset(), req->max_records(), req->max_bytes(), ctx_->self, resp);
      if (!s.ok() || resp->records_size() > 0 || resp->has_gap() || Clock::now() >= deadline) {
        return reactor->Finish(s);
      }
      // Nothing yet: long-poll until a record commits past the offset or the wait ends.
      WaitForWatermark(ctx_, view, req->offset(), deadline, [this, reactor, req, resp, view](bool) {
        if (auto s = CheckView(*view); !s.ok()) return reactor->Finish(s);
        resp->Clear();
        reactor->Finish(ReadRecords(*ctx_->store, *view, req->offset(), req->max_records(), req->max_bytes(),
                                    ctx_->self, resp));
      });
    };
    if (req->has_min_acknowledged_offset() && view->high_watermark() <= req->min_acknowledged_offset()) {
      uint64_t want = req->min_acknowledged_offset();
      WaitForWatermark(ctx_, view, want, deadline, [reactor, view, want, read](bool) {
        if (view->high_watermark() <= want) {
          return reactor->Finish(
              RetryLater(grpc::StatusCode::UNAVAILABLE,
                         absl::StrCat("this replica has committed up to offset ", view->high_watermark(),
                                      ", not yet past ", want, "; retry or read from the leader"),
                         50));
        }
        read();
      });
      return reactor;
    }
    read();
    return reactor;
  }

  grpc::ServerWriteReactor<v1::FetchResponse>* Subscribe(grpc::CallbackServerContext* context,
                                                         const v1::SubscribeRequest* req) override;

  grpc::ServerUnaryReactor* ListOffsets(grpc::CallbackServerContext* context, const v1::ListOffsetsRequest* req,
                                        v1::ListOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = ValidateListOffsets(*req); !s.ok()) return Reject(reactor, s);
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    reactor->Finish(server::ListOffsets(*ctx_->store, *view, *req, resp));
    return reactor;
  }

 private:
  ServiceContext* ctx_;
};

// One Subscribe stream: read a chunk, write it, repeat; when caught up, wait on the partition's watermark.
// Thread-safety: mu_ guards the state; the reactor deletes itself in OnDone, after Finish, and Finish is called
// only when no wait is registered (a registered wait is cancelled first, or has fired).
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::FetchResponse> {
 public:
  SubscribeReactor(ServiceContext* ctx, const v1::SubscribeRequest* req) : ctx_(ctx), req_(*req) {
    ctx_->subscriptions.fetch_add(1);
    if (!ctx_->accepting.load()) {
      Finish(ShuttingDown());
      return;
    }
    if (auto s = ValidateSubscribe(req_); !s.ok()) {
      Finish(s);
      return;
    }
    if (auto s = FindView(*ctx_, req_.topic(), req_.partition(), &view_); !s.ok()) {
      Finish(s);
      return;
    }
    offset_ = req_.offset();
    if (req_.has_min_acknowledged_offset()) start_after_ = req_.min_acknowledged_offset() + 1;
    ctx_->executor->Submit([this] { Next(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    ctx_->executor->Submit([this] { Next(); });
  }

  void OnCancel() override {
    uint64_t waiter = 0;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      waiter = waiter_;
    }
    // If the wait is still registered, remove it and finish here; otherwise the wait has fired (or there is
    // none) and Next() finishes on seeing cancelled_.
    if (waiter != 0 && view_->Cancel(waiter)) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "subscription cancelled"));
    }
  }

  void OnDone() override {
    ctx_->subscriptions.fetch_sub(1);
    delete this;
  }

 private:
  void Next() {
    bool cancelled;
    {
      std::lock_guard lock(mu_);
      waiter_ = 0;
      cancelled = cancelled_;
    }
    if (cancelled) return FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "subscription cancelled"));
    if (!ctx_->accepting.load()) return FinishOnce(ShuttingDown());
    if (auto s = CheckView(*view_); !s.ok()) return FinishOnce(s);
    if (start_after_ > 0 && view_->high_watermark() < start_after_) return Wait(start_after_ - 1);
    resp_.Clear();
    auto s = ReadRecords(*ctx_->store, *view_, offset_, req_.max_records(), req_.max_bytes(), ctx_->self, &resp_);
    if (!s.ok()) return FinishOnce(s);
    if (resp_.records_size() == 0 && !resp_.has_gap()) return Wait(offset_);
    offset_ = resp_.next_offset();
    StartWrite(&resp_);
  }

  void Wait(uint64_t beyond) {
    std::lock_guard lock(mu_);
    if (cancelled_) {
      ctx_->executor->Submit([this] { Next(); });
      return;
    }
    // The callback may run before WaitBeyond returns (the watermark moved meanwhile); Next() then clears waiter_.
    waiter_ = view_->WaitBeyond(beyond, [this] { ctx_->executor->Submit([this] { Next(); }); });
  }

  void FinishOnce(const grpc::Status& s) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  ServiceContext* ctx_;
  const v1::SubscribeRequest req_;
  std::shared_ptr<PartitionView> view_;
  uint64_t offset_ = 0;
  uint64_t start_after_ = 0;
  v1::FetchResponse resp_;
  std::mutex mu_;
  bool cancelled_ = false;
  bool finished_ = false;
  uint64_t waiter_ = 0;
};

grpc::ServerWriteReactor<v1::FetchResponse>* LogService::Subscribe(grpc::CallbackServerContext* context,
                                                                   const v1::SubscribeRequest* req) {
  return new SubscribeReactor(ctx_, req);
}

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CreateTopic(grpc::CallbackServerContext* context, const v1::CreateTopicRequest* req,
                                        v1::CreateTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateCreateTopic(*req)); !s.ok()) return Reject(reactor, s);
    ctx_->host->CreateTopic(*req, [reactor, resp](grpc::Status s, v1::Topic t) {
      if (s.ok()) *resp->mutable_topic() = std::move(t);
      reactor->Finish(s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* DeleteTopic(grpc::CallbackServerContext* context, const v1::DeleteTopicRequest* req,
                                        v1::DeleteTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateTopicName("name", req->name())); !s.ok()) return Reject(reactor, s);
    ctx_->host->DeleteTopic(req->name(), [reactor](grpc::Status s) { reactor->Finish(s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* context, const v1::ListTopicsRequest* req,
                                       v1::ListTopicsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    auto cluster = ctx_->host->cluster();
    for (const auto& [name, t] : cluster->metadata.topics()) *resp->add_topics() = Host::TopicToApi(t);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* DescribeTopic(grpc::CallbackServerContext* context,
                                          const v1::DescribeTopicRequest* req,
                                          v1::DescribeTopicResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = ValidateTopicName("name", req->name()); !s.ok()) return Reject(reactor, s);
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
    auto cluster = ctx_->host->cluster();
    resp->set_cluster_id(cluster_id_);
    resp->set_controller_id(ctx_->host->ready() ? cluster->controller : 0);
    resp->set_metadata_term(cluster->controller_term);
    resp->set_answered_by(ctx_->self);
    FillNodes(*cluster, resp->mutable_nodes());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* context, const v1::GetMetadataRequest* req,
                                        v1::GetMetadataResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    auto cluster = ctx_->host->cluster();
    FillNodes(*cluster, resp->mutable_nodes());
    resp->set_controller_id(cluster->controller);
    auto add = [&](const internal::TopicRecord& t) {
      v1::Topic* topic = resp->add_topics();
      *topic = Host::TopicToApi(t);
      for (const auto& p : t.partitions()) {
        auto* info = topic->add_partitions();
        info->set_partition(p.partition());
        info->set_group_id(p.group_id());
        for (auto r : p.replicas()) info->add_replicas(r);
        if (auto view = cluster->Find(t.name(), p.partition())) {
          info->set_leader_id(view->leader());
          info->set_leader_term(view->term());
          info->set_high_watermark(view->high_watermark());
          info->set_log_start_offset(view->log_start_offset());
        }
      }
    };
    if (req->topics_size() == 0) {
      for (const auto& [name, t] : cluster->metadata.topics()) add(t);
    } else {
      for (const auto& name : req->topics()) {
        auto it = cluster->metadata.topics().find(name);
        if (it == cluster->metadata.topics().end()) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", name, "' does not exist")));
          return reactor;
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
    if (auto s = ValidateTopicName("topic", req->topic()); !s.ok()) return Reject(reactor, s);
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
    }
  }

 public:
  std::function<bool(uint64_t)> reachable_;

 private:
  ServiceContext* ctx_;
  std::string cluster_id_;
};

class GroupsService final : public v1::ConsumerGroups::CallbackService {
 public:
  explicit GroupsService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* CommitOffsets(grpc::CallbackServerContext* context,
                                          const v1::CommitOffsetsRequest* req,
                                          v1::CommitOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateCommitOffsets(*req)); !s.ok()) return Reject(reactor, s);
    ctx_->host->CommitOffsets(*req, [reactor](grpc::Status s) { reactor->Finish(s); });
    return reactor;
  }

  grpc::ServerUnaryReactor* FetchOffsets(grpc::CallbackServerContext* context, const v1::FetchOffsetsRequest* req,
                                         v1::FetchOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = ValidateFetchOffsets(*req); !s.ok()) return Reject(reactor, s);
    ctx_->host->FetchOffsets(*req, [reactor, resp](grpc::Status s, v1::FetchOffsetsResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

 private:
  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<v1::Log::CallbackService> MakeLogService(ServiceContext* ctx) {
  return std::make_unique<LogService>(ctx);
}

std::unique_ptr<v1::Admin::CallbackService> MakeAdminService(ServiceContext* ctx) {
  auto admin = std::make_unique<AdminService>(ctx);
  admin->set_cluster_id(ctx->cluster_id);
  admin->reachable_ = ctx->reachable;
  return admin;
}

std::unique_ptr<v1::ConsumerGroups::CallbackService> MakeGroupsService(ServiceContext* ctx) {
  return std::make_unique<GroupsService>(ctx);
}

}  // namespace brook::server
