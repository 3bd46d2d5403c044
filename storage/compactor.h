// A single background thread that compacts key ranges Brook just range-deleted (retention, dropped groups), so
// their disk space comes back now rather than when RocksDB's own compactions happen to reach those files.
//
// Schedule() never blocks on I/O (it queues); the thread runs one rocksdb CompactRange at a time, which competes
// with RocksDB's background jobs but never blocks the write path (exclusive_manual_compaction is off).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace brook::storage {

class BackgroundCompactor {
 public:
  explicit BackgroundCompactor(rocksdb::DB* db);  // `db` must outlive this object.
  ~BackgroundCompactor();                         // Aborts a compaction in progress and joins the thread.

  // Queues a compaction of [begin, end) in `cf` (end "" means to the end of the CF). Any thread.
  void Schedule(rocksdb::ColumnFamilyHandle* cf, std::string begin, std::string end);

  // Blocks until the queue is empty and no compaction runs. For tests.
  void WaitIdle();

 private:
  struct Range {
    rocksdb::ColumnFamilyHandle* cf;
    std::string begin, end;
  };
  void Run();

  rocksdb::DB* const db_;
  std::mutex mu_;
  std::condition_variable cv_;  // signalled when the queue, running_ or stop_ change
  std::vector<Range> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // A compaction is in progress outside the lock.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Started last in the constructor.
};

}  // namespace brook::storage
