// Exponential backoff with full jitter, capped, and floored by a server's RetryInfo.
//
// Pure: the random source is passed in, so tests get exact answers. Not thread-safe; one per retry loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace brook::client {

struct BackoffOptions {
  // Delay bound of the first retry; doubles (times `multiplier`) per attempt up to `max_delay`.
  std::chrono::milliseconds initial_delay{20};
  std::chrono::milliseconds max_delay{1000};
  double multiplier = 2.0;
  // Fraction of the bound that is randomized: the delay is drawn uniformly from [bound * (1 - jitter), bound].
  // 1.0 is "full jitter" (AWS architecture blog); 0 makes delays deterministic.
  double jitter = 0.5;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, uint64_t seed = std::random_device{}());

  // The delay before the next attempt, at least `floor` (a server's RetryInfo.retry_delay_ms). Advances the
  // attempt counter.
  std::chrono::milliseconds Next(std::chrono::milliseconds floor = std::chrono::milliseconds(0));
  // Starts over after a success.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

  // The upper bound of the delay of attempt `attempt` (0-based) without jitter.
  static std::chrono::milliseconds Bound(const BackoffOptions& options, int attempt);

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace brook::client
