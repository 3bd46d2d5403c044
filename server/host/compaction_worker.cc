#include "server/host/compaction_worker.h"

#include <utility>

#include "server/common/log.h"

namespace brook::server {

CompactionWorker::CompactionWorker(storage::Store* store, bool inline_passes)
    : store_(store), inline_(inline_passes) {
  if (!inline_) {
    thread_ = std::thread([this] {
      NameThisThread("brook-compact");
      Run();
    });
  }
}

CompactionWorker::~CompactionWorker() { Stop(); }

void CompactionWorker::Stop() {
  cancel_.store(true);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CompactionWorker::Submit(CompactionJob job) {
  busy_ = true;
  if (inline_) {
    CompactionResult r = Execute(store_, job, &cancel_);
    std::lock_guard lock(mu_);
    result_ = std::move(r);
    return;
  }
  {
    std::lock_guard lock(mu_);
    job_ = std::move(job);
  }
  cv_.notify_all();
}

std::optional<CompactionResult> CompactionWorker::TakeResult() {
  std::optional<CompactionResult> out;
  {
    std::lock_guard lock(mu_);
    out = std::move(result_);
    result_.reset();
  }
  if (out.has_value()) busy_ = false;
  return out;
}

void CompactionWorker::Run() {
  while (true) {
    CompactionJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_.has_value(); });
      if (stop_) return;
      job = std::move(*job_);
      job_.reset();
    }
    CompactionResult r = Execute(store_, job, &cancel_);
    std::lock_guard lock(mu_);
    result_ = std::move(r);
  }
}

CompactionResult CompactionWorker::Execute(storage::Store* store, const CompactionJob& job,
                                           const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  CompactionResult r;
  r.group = job.group;
  r.input = job.input;
  PassLog log;
  log.read = [&](raft::Index lo, raft::Index hi, uint64_t max_bytes) -> absl::StatusOr<std::vector<raft::Entry>> {
    if (cancel != nullptr && cancel->load()) return absl::CancelledError("the node is stopping");
    return store->Entries(job.group, lo, hi, max_bytes);
  };
  log.rewrite = [&](std::vector<raft::Entry> entries) -> absl::Status {
    auto w = store->RewriteEntries(job.group, entries);
    if (!w.ok()) return w.status();
    r.entries_skipped += w->skipped;
    return absl::OkStatus();
  };
  r.outcome = RunPass(job.input, log);
  r.took = std::chrono::steady_clock::now() - start;
  return r;
}

}  // namespace brook::server
