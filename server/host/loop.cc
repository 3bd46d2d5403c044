#include "server/host/loop.h"

#include <algorithm>

#include "server/common/log.h"

namespace brook::server {

Loop::Loop(Clock* clock, std::chrono::milliseconds tick, TurnFn turn)
    : clock_(clock), tick_(tick), turn_(std::move(turn)), next_tick_(clock->Now() + tick) {}

Loop::~Loop() { Stop(); }

void Loop::Start() {
  next_tick_ = clock_->Now() + tick_;
  thread_ = std::thread([this] {
    NameThisThread("brook-loop");
    Run();
  });
}

bool Loop::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<Posted> rejected;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    rejected.swap(tasks_);
    inbox_.clear();
  }
  for (auto& t : rejected) t.reject();
  return true;
}

bool Loop::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Loop::Post(Task run, Task reject) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      tasks_.push_back(Posted{std::move(run), std::move(reject)});
      cv_.notify_one();
      return;
    }
  }
  reject();
}

void Loop::Deliver(internal::MessageBatch&& batch) {
  // A liveness beat alone needs no turn of its own: the next tick's turn takes it (quiet idle groups would
  // otherwise cost a turn over every group per beat).
  const bool beat_only = batch.liveness_beat() && batch.messages_size() == 0 && batch.move_reports_size() == 0 &&
                         !batch.leaders_announced();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    inbox_.push_back(std::move(batch));
  }
  if (!beat_only) cv_.notify_one();
}

void Loop::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

bool Loop::HasInput() const {
  std::lock_guard lock(mu_);
  return wake_ || !inbox_.empty() || !tasks_.empty();
}

void Loop::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    // Wait in real time for at most what is left of the tick on the loop's clock (a manual clock that does not
    // move makes this a bounded idle wait, never a spin).
    auto left = std::clamp<Clock::Duration>(next_tick_ - clock_->Now(), Clock::Duration::zero(), tick_);
    cv_.wait_for(lock, left, [&] { return stopping_ || wake_ || !inbox_.empty() || !tasks_.empty(); });
    if (stopping_) return;
    TakeAndTurn(lock);
  }
}

bool Loop::RunOnce() {
  std::unique_lock lock(mu_);
  if (stopping_) return false;
  TakeAndTurn(lock);
  return true;
}

void Loop::TakeAndTurn(std::unique_lock<std::mutex>& lock) {
  std::vector<internal::MessageBatch> inbox;
  std::vector<Posted> posted;
  inbox.swap(inbox_);
  posted.swap(tasks_);
  wake_ = false;
  lock.unlock();
  std::vector<Task> tasks;
  tasks.reserve(posted.size());
  for (auto& p : posted) tasks.push_back(std::move(p.run));
  auto now = clock_->Now();
  bool tick = now >= next_tick_;
  if (tick) {
    next_tick_ += tick_;
    if (next_tick_ < now) next_tick_ = now + tick_;  // fell behind: skip, do not tick in a burst
  }
  turn_(inbox, tasks, tick, now);
  lock.lock();
}

}  // namespace brook::server
