#include "server/host/views.h"

#include <algorithm>

namespace brook::server {

uint64_t PartitionView::WaitBeyond(uint64_t offset, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (high_watermark() <= offset && !closed()) {
      uint64_t id = next_waiter_id_++;
      waiters_.push_back(Waiter{id, offset, std::move(fn)});
      return id;
    }
  }
  fn();
  return 0;
}

bool PartitionView::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.id == id; });
  if (it == waiters_.end()) return false;
  waiters_.erase(it);
  return true;
}

void PartitionView::Publish(raft::Index applied_index, uint64_t high_watermark, uint64_t log_start_offset,
                            raft::NodeId leader, raft::Term term) {
  applied_index_.store(applied_index, std::memory_order_release);
  log_start_offset_.store(log_start_offset, std::memory_order_release);
  leader_.store(leader, std::memory_order_release);
  term_.store(term, std::memory_order_release);
  uint64_t old = high_watermark_.exchange(high_watermark, std::memory_order_acq_rel);
  if (high_watermark > old) FireReady(high_watermark, false);
}

void PartitionView::MarkDeleted() {
  deleted_.store(true, std::memory_order_release);
  FireReady(0, true);
}

void PartitionView::MarkMoved() {
  moved_.store(true, std::memory_order_release);
  FireReady(0, true);
}

void PartitionView::MarkStopped() {
  stopped_.store(true, std::memory_order_release);
  FireReady(0, true);
}

void PartitionView::FireReady(uint64_t hwm, bool all) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    auto keep = waiters_.begin();
    for (auto& w : waiters_) {
      if (all || hwm > w.offset) {
        fire.push_back(std::move(w.fn));
      } else {
        *keep++ = std::move(w);
      }
    }
    waiters_.erase(keep, waiters_.end());
  }
  for (auto& fn : fire) fn();
}

}  // namespace brook::server
