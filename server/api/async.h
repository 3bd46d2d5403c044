// Small concurrency helpers for the gRPC services: a fixed thread pool for work that must leave the host loop or
// gRPC's threads (storage reads after a long-poll wakes), and a timer thread for deadlines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace brook::server {

// Runs submitted functions on `threads` threads, in submission order per thread. Thread-safe.
class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();  // Runs what is queued, then joins.
  void Submit(std::function<void()> fn);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
};

// Calls functions at deadlines, on its own thread (callbacks must be quick: hand work to an Executor).
// Thread-safe.
class Timers {
 public:
  using Clock = std::chrono::steady_clock;
  Timers();
  ~Timers();  // Drops pending timers without calling them.
  uint64_t Schedule(Clock::time_point when, std::function<void()> fn);
  // True if the timer was removed before it fired.
  bool Cancel(uint64_t id);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  std::multimap<Clock::time_point, std::pair<uint64_t, std::function<void()>>> timers_;
  std::thread thread_;
};

}  // namespace brook::server
