// Maintenance's key compaction (maintenance.h Compact): when a compacted partition is due, what its pass is given,
// and what the loop does with the pass's result.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/host/maintenance.h"

namespace brook::server {
namespace {

bool CompactsKeys(const v1::TopicConfig& config) {
  return config.cleanup_policy() == v1::CLEANUP_COMPACT || config.cleanup_policy() == v1::CLEANUP_COMPACT_DELETE;
}

}  // namespace

void Maintenance::Compact(Clock::TimePoint now) {
  CompactionWorker* worker = ctx_->compaction;
  if (worker == nullptr) return;
  if (auto result = worker->TakeResult(); result.has_value()) FinishCompaction(*result);
  if (worker->busy() || now < next_compaction_check_) return;
  next_compaction_check_ = now + ctx_->options->compaction_interval;
  const int64_t now_ms = ctx_->NowMs();
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  const auto& partitions = ctx_->groups->partitions();
  // Round robin: the first partition due after the one compacted last, wrapping around once.
  auto visit = [&](auto from, auto to) {
    for (auto it = from; it != to; ++it) {
      PartitionGroup& g = *it->second;
      if (g.broken()) continue;
      auto topic = topics.find(g.topic());
      if (topic == topics.end() || !CompactsKeys(topic->second.config())) continue;
      if (!CompactionDue(g, now_ms)) continue;
      if (SubmitCompaction(g, topic->second.config(), now_ms)) return true;
    }
    return false;
  };
  const auto after = partitions.upper_bound(last_compacted_);
  if (!visit(after, partitions.end())) visit(partitions.begin(), after);
}

bool Maintenance::CompactionDue(const PartitionGroup& g, int64_t now_ms) const {
  const PartitionGroup::Compaction& c = g.compaction();
  const raft::Offset since = std::max(c.clean_end_offset, ctx_->store->Bounds(g.id()).log_start_offset);
  const raft::Offset end = g.machine().end_offset();
  const uint64_t dirty = end > since ? end - since : 0;
  if (c.next_due_ms.has_value() && now_ms >= *c.next_due_ms) return true;
  // Nothing new, or what is new is still younger than the lag (next_due_ms says when it is not).
  if (dirty == 0 || c.waiting_for_lag) return false;
  // Dirty at least as large as what is left (a dirty ratio of one half, as Kafka's default) and the floor, or the
  // last pass is old.
  return dirty >= std::max(ctx_->options->compaction_min_dirty_records, c.live_records) ||
         now_ms - c.last_pass_ms >= ctx_->options->compaction_max_delay.count();
}

bool Maintenance::SubmitCompaction(PartitionGroup& g, const v1::TopicConfig& config, int64_t now_ms) {
  const storage::LogBounds bounds = ctx_->store->Bounds(g.id());
  if (g.applied() < bounds.first_index) return false;  // nothing applied in the log
  CompactionJob job;
  job.group = g.id();
  job.input.first_index = bounds.first_index;
  job.input.applied = std::min(g.applied(), bounds.last_index);
  job.input.dirty_from = std::max(bounds.first_index, g.compaction().clean_end + 1);
  job.input.rules = RulesFor(config.tombstone_retention_ms(), config.min_compaction_lag_ms(), now_ms,
                             ctx_->options->compaction_max_key_bytes);
  last_compacted_ = g.id();
  ctx_->compaction->Submit(std::move(job));
  return true;
}

void Maintenance::FinishCompaction(const CompactionResult& r) {
  PartitionGroup* g = ctx_->groups->FindPartition(r.group);
  if (g == nullptr) return;  // the topic was deleted meanwhile
  if (!r.outcome.ok()) {
    // The log moved under the pass (retention, a snapshot) or the node is stopping: the next pass retries.
    // Anything else (an entry that does not decode) is worth a line; the pass changed nothing it could not finish.
    if (!absl::IsOutOfRange(r.outcome.status()) && !absl::IsCancelled(r.outcome.status())) {
      LogWarning("n", ctx_->self(), " g", g->id(), " compaction pass failed: ", r.outcome.status().message());
    }
    return;
  }
  const PassOutcome& o = *r.outcome;
  PartitionGroup::Compaction& c = g->compaction();
  if (o.end >= r.input.first_index) {
    c.clean_end = o.end;
    c.clean_end_offset = o.end_offset;
  }
  c.live_records = o.records_kept;
  c.next_due_ms = o.next_due_ms;
  c.waiting_for_lag = o.stopped_by_lag;
  c.last_pass_ms = ctx_->NowMs();
  GroupCounters& counters = g->counters();
  ++counters.compaction_passes;
  counters.compaction_records_removed += o.records_removed;
  counters.compaction_bytes_before += o.bytes_before;
  counters.compaction_bytes_after += o.bytes_after;
  if (ctx_->metrics != nullptr) ctx_->metrics->ObserveCompaction(g->id(), o, r.took);
  if (o.records_removed > 0) {
    LogInfo("n", ctx_->self(), " g", g->id(), " compacted entries ", r.input.first_index, "..", o.end,
            ": removed ", o.records_removed, " records, kept ", o.records_kept, ", rewrote ", o.entries_rewritten,
            " entries (", o.bytes_before, " -> ", o.bytes_after, " bytes) in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(r.took).count(), " ms");
  }
  // A prefix without any record left goes like retention's: reads below it answer TRIMMED, followers that need it
  // get a snapshot (which carries the producer table and the group offsets its entries built).
  const raft::Index start = ctx_->store->Bounds(g->id()).first_index - 1;
  if (o.droppable <= start || o.droppable > g->applied()) return;
  if (auto s = ctx_->store->DropPrefix(g->id(), o.droppable); !s.ok()) {
    LogWarning("n", ctx_->self(), " g", g->id(), " compaction could not drop the log up to ", o.droppable, ": ",
               s.message());
    return;
  }
  g->raft().Compact(o.droppable);
  ++counters.compaction_drops;
  g->Publish();
}

}  // namespace brook::server
