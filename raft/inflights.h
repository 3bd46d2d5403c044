// The appends a leader has sent to one follower and not yet seen acknowledged: the flow-control window.
// Bounded both in messages (max_count) and in bytes of entry data (max_bytes), so one slow follower cannot make
// the leader buffer unbounded data in the transport. O(1) per operation; allocation-free in steady state.
#pragma once

#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace brook::raft {

class Inflights {
 public:
  Inflights(size_t max_count, uint64_t max_bytes) : max_count_(max_count), max_bytes_(max_bytes) {}

  // Records an append whose last entry is `last` carrying `bytes` of data. Indexes must increase.
  void Add(Index last, uint64_t bytes) {
    window_.push_back({last, bytes});
    bytes_ += bytes;
  }
  // The follower acknowledged everything up to `index`: frees the appends ending at or before it.
  void FreeLE(Index index) {
    while (!window_.empty() && window_.front().last <= index) {
      bytes_ -= window_.front().bytes;
      window_.pop_front();
    }
  }
  // Frees the oldest append (used when a heartbeat response shows the follower alive but the window is stuck,
  // i.e. an append was probably lost).
  void FreeFirstOne() {
    if (!window_.empty()) FreeLE(window_.front().last);
  }
  void Reset() {
    window_.clear();
    bytes_ = 0;
  }

  // No more appends may be sent: the count or the byte bound is reached. A single append larger than max_bytes
  // is still allowed into an empty window, so progress is always possible.
  bool Full() const { return window_.size() >= max_count_ || (max_bytes_ != 0 && bytes_ >= max_bytes_); }
  size_t count() const { return window_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Append {
    Index last;
    uint64_t bytes;
  };
  size_t max_count_;
  uint64_t max_bytes_;  // 0 = no byte bound.
  std::deque<Append> window_;
  uint64_t bytes_ = 0;  // Invariant: the sum of window_[k].bytes.
};

}  // namespace brook::raft
