#include "client/lib/backoff.h"

#include <algorithm>
#include <cmath>

namespace brook::client {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

std::chrono::milliseconds Backoff::Bound(const BackoffOptions& options, int attempt) {
  double bound = static_cast<double>(options.initial_delay.count()) *
                 std::pow(options.multiplier, static_cast<double>(std::min(attempt, 62)));
  bound = std::min(bound, static_cast<double>(options.max_delay.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(bound));
}

std::chrono::milliseconds Backoff::Next(std::chrono::milliseconds floor) {
  const double bound = static_cast<double>(Bound(options_, attempt_).count());
  ++attempt_;
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> dist(bound * (1.0 - jitter), bound);
  const auto delay = std::chrono::milliseconds(static_cast<int64_t>(jitter > 0 ? dist(rng_) : bound));
  return std::max(delay, floor);
}

}  // namespace brook::client
