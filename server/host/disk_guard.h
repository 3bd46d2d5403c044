// Keeps a node useful when its disk fills (docs/operations.md "Disk full"). Every second the loop measures the
// free space of the data directory's filesystem:
//   - below the reserve, the node refuses new writes from clients (Produce, CommitOffsets, CreateTopic,
//     InitProducer) with RESOURCE_EXHAUSTED + RetryInfo + WriteOutcome NOT_WRITTEN, and keeps serving reads;
//   - below half the reserve, it also stops appending what leaders replicate to it (append messages with entries
//     are dropped, which Raft tolerates: the leader resends), so that it does not die of ENOSPC as a follower;
//   - when space returns, both stop, by themselves.
// A storage write that fails anyway still stops the node (fail-stop), but the reserve makes that rare.
//
// Loop thread only (the published figures are atomics any thread may read). Cost: one statvfs per second.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "grpcpp/support/status.h"
#include "server/host/clock.h"

namespace brook::server {

class DiskGuard {
 public:
  // `free_bytes` measures the free space (statvfs of the data directory by default; tests pass their own).
  DiskGuard(uint64_t reserve_bytes, std::function<uint64_t()> free_bytes);
  // statvfs(path): bytes available to this user; UINT64_MAX when it cannot be measured.
  static uint64_t FreeBytesOf(const std::string& path);

  // Measures again when a second has passed since the last measurement.
  void Refresh(Clock::TimePoint now);
  // OK, or the status that refuses a client write.
  grpc::Status CheckWrite(uint64_t node_id) const;
  // Below half the reserve: replicated appends are dropped.
  bool critical() const { return free_.load(std::memory_order_relaxed) < reserve_ / 2; }
  bool low() const { return free_.load(std::memory_order_relaxed) < reserve_; }
  uint64_t free_bytes() const { return free_.load(std::memory_order_relaxed); }
  uint64_t reserve_bytes() const { return reserve_; }
  uint64_t dropped_appends() const { return dropped_appends_.load(std::memory_order_relaxed); }
  void CountDroppedAppend() { dropped_appends_.fetch_add(1, std::memory_order_relaxed); }

 private:
  const uint64_t reserve_;
  const std::function<uint64_t()> measure_;
  Clock::TimePoint next_ = {};
  bool was_low_ = false;
  std::atomic<uint64_t> free_{UINT64_MAX};
  std::atomic<uint64_t> dropped_appends_{0};
};

}  // namespace brook::server
