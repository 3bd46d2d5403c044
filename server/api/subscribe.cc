#include "server/api/subscribe.h"

#include <chrono>
#include <mutex>

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

// One Subscribe stream: read a chunk, write it, repeat; when caught up, wait on the partition's watermark.
// Thread-safety: mu_ guards the state; the reactor deletes itself in OnDone, after Finish, and Finish is called
// only when no wait is registered (a registered wait is cancelled first, or has fired).
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::FetchResponse> {
 public:
  SubscribeReactor(ServiceContext* ctx, grpc::CallbackServerContext* context, const v1::SubscribeRequest* req)
      : ctx_(ctx), req_(*req) {
    const int active = ctx_->subscriptions.fetch_add(1) + 1;
    stream_.context = context;
    ctx_->streams.Add(&stream_);
    if (!ctx_->accepting.load()) {
      Finish(ShuttingDown());
      return;
    }
    if (active > ctx_->max_subscriptions) {
      Finish(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("this node serves at most ", ctx_->max_subscriptions,
                                     " Subscribe streams at once (--max_subscriptions); retry later or on another "
                                     "replica, or read with Fetch"),
                        1000));
      return;
    }
    if (auto s = Admit(*ctx_, ValidateSubscribe(req_)); !s.ok()) {
      Finish(s);
      return;
    }
    if (auto s = Allow(*ctx_, context, v1::CONSUME, v1::TOPIC, req_.topic(), &who_); !s.ok()) {
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
    stream_.write_started_ms.store(0, std::memory_order_release);
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
    ctx_->streams.Remove(&stream_);
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
    // Over the fetch quota: the stream ends with RESOURCE_EXHAUSTED + RetryInfo; the client subscribes again
    // after the delay, from the offset after the last record it got.
    if (ctx_->access != nullptr) {
      if (auto s = ctx_->access->AdmitFetch(who_); !s.ok()) return FinishOnce(s);
    }
    if (start_after_ > 0 && view_->high_watermark() < start_after_) return Wait(start_after_ - 1);
    // A replica that may be behind waits for an offset past its watermark (the stream has no deadline to keep).
    if (offset_ > view_->high_watermark() && view_->leader() != ctx_->self) return Wait(offset_ - 1);
    resp_.Clear();
    const ReadOptions options{offset_, req_.max_records(), req_.max_bytes(), req_.accept_compressed()};
    auto s = ReadRecords(*ctx_->store, *view_, options, ctx_->self, &resp_);
    if (!s.ok()) return FinishOnce(s);
    if (!HasData(resp_)) return Wait(offset_);
    offset_ = resp_.next_offset();
    if (ctx_->access != nullptr) ctx_->access->ChargeFetch(who_, resp_.ByteSizeLong());
    stream_.write_started_ms.store(NowMs(), std::memory_order_release);
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

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  ServiceContext* ctx_;
  SubscriptionRegistry::Stream stream_;
  const v1::SubscribeRequest req_;
  Principal who_;
  std::shared_ptr<PartitionView> view_;
  uint64_t offset_ = 0;
  uint64_t start_after_ = 0;
  v1::FetchResponse resp_;
  std::mutex mu_;
  bool cancelled_ = false;
  bool finished_ = false;
  uint64_t waiter_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<v1::FetchResponse>* StartSubscribe(ServiceContext* ctx,
                                                            grpc::CallbackServerContext* context,
                                                            const v1::SubscribeRequest* req) {
  return new SubscribeReactor(ctx, context, req);
}

}  // namespace brook::server
