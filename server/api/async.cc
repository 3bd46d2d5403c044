#include "server/api/async.h"

#include "server/common/log.h"

namespace brook::server {

Executor::Executor(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      NameThisThread("brook-exec");
      while (true) {
        std::function<void()> fn;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          fn = std::move(queue_.front());
          queue_.pop_front();
        }
        fn();
      }
    });
  }
}

Executor::~Executor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Executor::Submit(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

Timers::Timers() {
  thread_ = std::thread([this] {
    NameThisThread("brook-timers");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (timers_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = timers_.begin();
      if (Clock::now() < first->first) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      auto fn = std::move(first->second.second);
      timers_.erase(first);
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

Timers::~Timers() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    timers_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t Timers::Schedule(Clock::time_point when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  cv_.notify_one();
  return id;
}

bool Timers::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return true;
    }
  }
  return false;
}

}  // namespace brook::server
