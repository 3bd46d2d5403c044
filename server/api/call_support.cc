#include "server/api/call_support.h"

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"

namespace brook::server {

void SubscriptionRegistry::Add(Stream* s) {
  std::lock_guard lock(mu_);
  streams_.insert(s);
}

void SubscriptionRegistry::Remove(Stream* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

int SubscriptionRegistry::CancelStalled(int64_t now_ms, int64_t timeout_ms) {
  std::lock_guard lock(mu_);
  int cancelled = 0;
  for (Stream* s : streams_) {
    const int64_t started = s->write_started_ms.load(std::memory_order_acquire);
    if (started == 0 || now_ms - started <= timeout_ms) continue;
    s->write_started_ms.store(0, std::memory_order_release);  // once
    s->context->TryCancel();
    ++cancelled;
  }
  return cancelled;
}

size_t SubscriptionRegistry::size() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

grpc::Status ShuttingDown() {
  return RetryLater(grpc::StatusCode::UNAVAILABLE, "node is shutting down; retry on another node", 100);
}

grpc::Status Admit(const ServiceContext& ctx, grpc::Status validation) {
  if (!ctx.accepting.load()) return ShuttingDown();
  if (ctx.host->removed()) {
    // Its metadata stopped at its removal: no answer of it, not even a NotLeader hint, can be trusted.
    return RetryLater(grpc::StatusCode::UNAVAILABLE,
                      "this node was removed from the cluster (decommissioned); send requests to another node",
                      100);
  }
  return validation;
}

grpc::ServerUnaryReactor* Reject(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
  reactor->Finish(status);
  return reactor;
}

void FinishWrite(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
  reactor->Finish(WithOutcome(status, WriteOutcome::kNotWritten));
}

grpc::ServerUnaryReactor* RejectWrite(grpc::ServerUnaryReactor* reactor, const grpc::Status& status) {
  FinishWrite(reactor, status);
  return reactor;
}

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
  if (view.stopped()) return ShuttingDown();
  if (view.moved()) return NotLeaderStatus(view.topic(), view.partition(), 0, "", 0);
  if (view.deleted()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("topic '", view.topic(), "' was deleted"));
  }
  return grpc::Status::OK;
}

void LongPollReactor::OnCancelEnd(std::function<void()> end) {
  std::unique_lock lock(mu_);
  if (!cancelled_) {
    end_ = std::move(end);
    return;
  }
  lock.unlock();
  end();
}

void LongPollReactor::OnCancel() {
  std::function<void()> end;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    end = std::move(end_);
  }
  if (end) end();
}

void WaitForWatermark(ServiceContext* ctx, std::shared_ptr<PartitionView> view, uint64_t offset,
                      std::chrono::steady_clock::time_point deadline, std::function<void(bool)> then,
                      LongPollReactor* reactor) {
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
  // The call is alive until `then` finishes it, so the reactor outlives this registration.
  if (reactor != nullptr) reactor->OnCancelEnd([fire] { fire(false); });
}

grpc::Status Authenticated(const ServiceContext& ctx, const grpc::CallbackServerContext* call, Principal* who) {
  if (ctx.access == nullptr) return grpc::Status::OK;
  return ctx.access->Authenticate(call, who);
}

grpc::Status Allow(const ServiceContext& ctx, const grpc::CallbackServerContext* call, v1::AclAction action,
                   v1::AclResourceType type, std::string_view name, Principal* who) {
  if (ctx.access == nullptr) return grpc::Status::OK;
  return ctx.access->Check(call, action, type, name, who);
}

bool Allows(const ServiceContext& ctx, const Principal& who, v1::AclAction action, v1::AclResourceType type,
            std::string_view name) {
  return ctx.access == nullptr || ctx.access->Allows(who, action, type, name);
}

}  // namespace brook::server
