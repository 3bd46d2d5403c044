// Time as the host sees it (STYLE habit 2: time is an input). Behind an interface so that tests run hosts on a
// manual clock: the loop's ticks, retention by time, append times and transfer deadlines all read it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace brook::server {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time: ticks, deadlines, latencies. Any thread.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, ms since the Unix epoch: the append times stamped into entries. Any thread.
  virtual int64_t UnixMillis() const = 0;
};

// The machine's clocks (steady_clock and the system clock). One shared instance.
class SystemClock final : public Clock {
 public:
  static SystemClock* Get();
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  int64_t UnixMillis() const override;
};

// A clock that moves only when told to. Thread-safe (tests may advance it while a loop thread reads it).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_millis = 1'700'000'000'000) : unix_millis_(unix_millis) {}
  TimePoint Now() const override { return TimePoint(Duration(steady_.load(std::memory_order_acquire))); }
  int64_t UnixMillis() const override { return unix_millis_.load(std::memory_order_acquire); }
  // Moves both clocks forward by `d`.
  void Advance(Duration d) {
    steady_.fetch_add(d.count(), std::memory_order_acq_rel);
    unix_millis_.fetch_add(std::chrono::duration_cast<std::chrono::milliseconds>(d).count(),
                           std::memory_order_acq_rel);
  }

 private:
  std::atomic<Duration::rep> steady_{0};
  std::atomic<int64_t> unix_millis_;
};

}  // namespace brook::server
