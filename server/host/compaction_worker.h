// Key compaction's background worker (docs/decisions.md A12): one thread per node runs one compaction pass at a
// time (server/machines/compaction.h RunPass) over one partition's applied log, off the loop thread, reading with
// storage's MVCC reads and writing with Store::RewriteEntries. The loop (server/host/maintenance.h) submits a job
// when a compacted partition is due and takes the result in a later turn; what needs the loop (dropping a prefix
// left without records, the Raft core, counters, metrics) happens there.
//
// Memory: the pass's key map (capped by CompactionRules::max_key_bytes) plus one read of the log and one batch of
// rewritten entries (PassInput::read_bytes, rewrite_bytes: 4 MiB each).
//
// Threads: Submit, busy and TakeResult belong to the loop thread. The pass runs on the worker's own thread, or,
// for the host tests' manual turns (Host::StartManual), inside Submit on the caller's thread, so that those tests
// stay deterministic. Stop may be called from any thread; it makes a running pass end at its next read.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "server/machines/compaction.h"
#include "storage/store.h"

namespace brook::server {

struct CompactionJob {
  raft::GroupId group = 0;
  PassInput input;
};

struct CompactionResult {
  raft::GroupId group = 0;
  PassInput input;
  absl::StatusOr<PassOutcome> outcome;
  uint64_t entries_skipped = 0;  // rewrites storage skipped: the entry left or changed meanwhile
  std::chrono::steady_clock::duration took{};
};

class CompactionWorker {
 public:
  // `store` must outlive the worker. `inline_passes`: run each pass inside Submit (tests); otherwise a thread.
  CompactionWorker(storage::Store* store, bool inline_passes);
  ~CompactionWorker();  // Stop()

  // Starts a pass. Only when !busy().
  void Submit(CompactionJob job);
  // A job was submitted and its result not taken yet.
  bool busy() const { return busy_; }
  // The result of the submitted job once its pass ended; nullopt while it runs.
  std::optional<CompactionResult> TakeResult();
  // Ends the thread; a running pass fails with CANCELLED at its next read. Idempotent.
  void Stop();

  // Runs a pass on the calling thread: reads and writes `store` only (any thread).
  static CompactionResult Execute(storage::Store* store, const CompactionJob& job,
                                  const std::atomic<bool>* cancel);

 private:
  void Run();

  storage::Store* const store_;
  const bool inline_;
  bool busy_ = false;  // loop thread only
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<CompactionJob> job_ ABSL_GUARDED_BY(mu_);
  std::optional<CompactionResult> result_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started last, in the constructor (not in inline mode)
};

}  // namespace brook::server
