// brook.v1.Log: Produce goes through the host loop; Fetch, Subscribe and ListOffsets are served from the
// published views and storage on gRPC's threads (docs/decisions.md D4: committed data only).
#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/api/call_support.h"
#include "server/api/read_path.h"
#include "server/api/services.h"
#include "server/api/subscribe.h"
#include "server/api/validate.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"

namespace brook::server {
namespace {

using Clock = std::chrono::steady_clock;

class LogService final : public v1::Log::CallbackService {
 public:
  explicit LogService(ServiceContext* ctx) : ctx_(ctx) {}

  grpc::ServerUnaryReactor* Produce(grpc::CallbackServerContext* context, const v1::ProduceRequest* req,
                                    v1::ProduceResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    ValidatedProduce valid;
    if (auto s = Admit(*ctx_, ValidateProduce(*req, &valid)); !s.ok()) return RejectWrite(reactor, s);
    Principal who;
    if (auto s = Allow(*ctx_, context, v1::PRODUCE, v1::TOPIC, req->topic(), &who); !s.ok()) {
      return RejectWrite(reactor, s);
    }
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return RejectWrite(reactor, s);
    if (!valid.keyless_record.empty()) {
      if (auto s = ValidateKeysFor(TopicConfigOf(req->topic()), valid); !s.ok()) return RejectWrite(reactor, s);
    }
    if (ctx_->access != nullptr) {
      if (auto s = ctx_->access->AdmitProduce(who, req->ByteSizeLong()); !s.ok()) return RejectWrite(reactor, s);
    }
    ProduceArgs args;
    args.topic = req->topic();
    args.partition = req->partition();
    args.producer_id = req->producer_id();
    args.producer_epoch = req->producer_epoch();
    args.sequence = req->sequence();
    args.record_count = valid.record_count;
    if (req->has_expected_offset()) args.expected_offset = req->expected_offset();
    args.plain = IsPlainProduce(*req);
    ctx_->host->Produce(std::move(args), EncodeRecordBatch(*req, valid.uncompressed_bytes),
                        [reactor, resp](grpc::Status s, v1::ProduceResponse r) {
                          if (s.ok()) *resp = std::move(r);
                          FinishWrite(reactor, s);
                        });
    return reactor;
  }

  grpc::ServerUnaryReactor* InitProducer(grpc::CallbackServerContext* context, const v1::InitProducerRequest* req,
                                         v1::InitProducerResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateInitProducer(*req)); !s.ok()) return RejectWrite(reactor, s);
    if (ctx_->access != nullptr) {
      if (auto s = ctx_->access->CheckProduceAny(context); !s.ok()) return RejectWrite(reactor, s);
    }
    ctx_->host->InitProducer(req->producer_name(), [reactor, resp](grpc::Status s, v1::InitProducerResponse r) {
      if (s.ok()) *resp = std::move(r);
      FinishWrite(reactor, s);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context, const v1::FetchRequest* req,
                                  v1::FetchResponse* resp) override {
    auto* reactor = new LongPollReactor();  // deletes itself; a client's cancel ends a long-poll at once
    if (auto s = Admit(*ctx_, ValidateFetch(*req)); !s.ok()) return Reject(reactor, s);
    Principal who;
    if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::TOPIC, req->topic(), &who); !s.ok())
      return Reject(reactor, s);
    if (ctx_->access != nullptr) {
      if (auto s = ctx_->access->AdmitFetch(who); !s.ok()) return Reject(reactor, s);
    }
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    auto deadline = Clock::now() + std::chrono::milliseconds(req->max_wait_ms());
    const ReadOptions options{req->offset(), req->max_records(), req->max_bytes(), req->accept_compressed()};
    auto read = [this, who, reactor, options, resp, view, deadline]() {
      if (auto s = CheckView(*view); !s.ok()) return reactor->Finish(s);
      resp->Clear();
      auto s = ReadRecords(*ctx_->store, *view, options, ctx_->self, resp);
      ChargeFetch(who, *resp);
      if (!s.ok() || HasData(*resp) || Clock::now() >= deadline) return reactor->Finish(s);
      // Nothing yet: long-poll until a record commits past the offset or the wait ends.
      WaitForWatermark(
          ctx_, view, options.offset, deadline,
          [this, who, reactor, options, resp, view](bool) {
            if (auto s = CheckView(*view); !s.ok()) return reactor->Finish(s);
            resp->Clear();
            auto s = ReadRecords(*ctx_->store, *view, options, ctx_->self, resp);
            ChargeFetch(who, *resp);
            reactor->Finish(s);
          },
          reactor);
    };
    if (req->has_min_acknowledged_offset() && view->high_watermark() <= req->min_acknowledged_offset()) {
      uint64_t want = req->min_acknowledged_offset();
      WaitForWatermark(
          ctx_, view, want, deadline,
          [reactor, view, want, read](bool) {
            if (view->high_watermark() <= want) {
              return reactor->Finish(
                  RetryLater(grpc::StatusCode::UNAVAILABLE,
                             absl::StrCat("this replica has committed up to offset ", view->high_watermark(),
                                          ", not yet past ", want, "; retry or read from the leader"),
                             50));
            }
            read();
          },
          reactor);
      return reactor;
    }
    // A replica that may be behind waits (within the long-poll) for an offset past its watermark, rather than
    // answering at once that it cannot serve it.
    if (req->offset() > view->high_watermark() && view->leader() != ctx_->self && req->max_wait_ms() > 0) {
      WaitForWatermark(
          ctx_, view, req->offset() - 1, deadline, [read](bool) { read(); }, reactor);
      return reactor;
    }
    read();
    return reactor;
  }

  grpc::ServerWriteReactor<v1::FetchResponse>* Subscribe(grpc::CallbackServerContext* context,
                                                         const v1::SubscribeRequest* req) override {
    return StartSubscribe(ctx_, context, req);
  }

  grpc::ServerUnaryReactor* ListOffsets(grpc::CallbackServerContext* context, const v1::ListOffsetsRequest* req,
                                        v1::ListOffsetsResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = Admit(*ctx_, ValidateListOffsets(*req)); !s.ok()) return Reject(reactor, s);
    if (auto s = Allow(*ctx_, context, v1::DESCRIBE, v1::TOPIC, req->topic()); !s.ok()) return Reject(reactor, s);
    std::shared_ptr<PartitionView> view;
    if (auto s = FindView(*ctx_, req->topic(), req->partition(), &view); !s.ok()) return Reject(reactor, s);
    reactor->Finish(server::ListOffsets(*ctx_->store, *view, *req, resp));
    return reactor;
  }

 private:
  // The bytes of a Fetch answer count against the caller's fetch quota.
  void ChargeFetch(const Principal& who, const v1::FetchResponse& resp) {
    if (ctx_->access != nullptr) ctx_->access->ChargeFetch(who, resp.ByteSizeLong());
  }
  // The topic's config as this node's metadata has it (topics do not change their config); default if unknown.
  v1::TopicConfig TopicConfigOf(const std::string& topic) const {
    auto cluster = ctx_->host->cluster();
    auto it = cluster->metadata.topics().find(topic);
    return it == cluster->metadata.topics().end() ? v1::TopicConfig() : it->second.config();
  }

  ServiceContext* ctx_;
};

}  // namespace

std::unique_ptr<v1::Log::CallbackService> MakeLogService(ServiceContext* ctx) {
  return std::make_unique<LogService>(ctx);
}

}  // namespace brook::server
