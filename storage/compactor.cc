#include "storage/compactor.h"

#include <utility>

#include "rocksdb/db.h"

namespace brook::storage {

BackgroundCompactor::BackgroundCompactor(rocksdb::DB* db) : db_(db), thread_([this] { Run(); }) {}

BackgroundCompactor::~BackgroundCompactor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  db_->DisableManualCompaction();  // Makes a CompactRange in progress return early.
  thread_.join();
}

void BackgroundCompactor::Schedule(rocksdb::ColumnFamilyHandle* cf, std::string begin, std::string end) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Range{cf, std::move(begin), std::move(end)});
  }
  cv_.notify_all();
}

void BackgroundCompactor::WaitIdle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return queue_.empty() && !running_; });
}

void BackgroundCompactor::Run() {
  while (true) {
    Range r;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      r = std::move(queue_.front());
      queue_.erase(queue_.begin());
      running_ = true;
    }
    rocksdb::CompactRangeOptions opts;
    opts.exclusive_manual_compaction = false;  // Let RocksDB's own flushes and compactions run alongside.
    // Range tombstones may sit above data in the bottommost level; force it so the space really comes back.
    opts.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    const rocksdb::Slice begin(r.begin), end(r.end);
    // A failure (shutdown, or I/O) only delays reclaiming space: RocksDB's compactions will get there later.
    db_->CompactRange(opts, r.cf, &begin, r.end.empty() ? nullptr : &end).PermitUncheckedError();
    {
      std::lock_guard lock(mu_);
      running_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace brook::storage
