// Key compaction's planner (compaction.h) against a deliberately naive model (STYLE habit 12): thousands of seeded
// random histories of appends (plain, compressed and idempotent batches, tombstones, records without a key, offset
// commits, no-op entries) with compaction passes interleaved, each with its own clock, tombstone retention, lag
// and key-map cap. The model remembers every record ever written and, after each pass that ended at offset E at
// time N, removes a record at offset o < E when a later record of its key exists below E, or when it is the
// latest of its key below E, a tombstone, and appended at least the tombstone retention before N. After every
// pass the log, read back through the entry codec, must hold exactly the model's records at their original
// offsets; a final pass far in the future must leave exactly the latest non-tombstone record of each key.
#include "server/machines/compaction.h"

#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/codec/compression.h"
#include "server/codec/entry_codec.h"
#include "server/machines/partition_machine.h"

namespace brook::server {
namespace {

struct Rec {
  std::string key;
  std::string value;
  bool tombstone = false;
  int64_t append_time = 0;
};

// A partition's log in memory, as storage would hold it, with the pass's reads and rewrites.
class MemoryLog {
 public:
  raft::Index first_index() const { return first_; }
  raft::Index last_index() const { return entries_.size(); }
  raft::Offset end_offset() const { return entries_.empty() ? 0 : entries_.back().end_offset(); }
  raft::Offset start_offset() const {
    return first_ > entries_.size() ? end_offset() : entries_[first_ - 1].base_offset;
  }
  const raft::Entry& at(raft::Index i) const { return entries_[i - 1]; }

  void Append(std::string data, uint32_t record_count, raft::EntryType type = raft::EntryType::kNormal) {
    raft::Entry e;
    e.type = type;
    e.index = entries_.size() + 1;
    e.term = 1 + e.index / 7;
    e.base_offset = end_offset();
    e.record_count = record_count;
    e.data = std::move(data);
    entries_.push_back(std::move(e));
  }
  void DropPrefix(raft::Index index) { first_ = index + 1; }

  // Reads in chunks of 1 to 3 entries, so that passes cross chunk boundaries.
  PassLog Pass(std::mt19937_64& rng) {
    PassLog log;
    log.read = [this, &rng](raft::Index lo, raft::Index hi, uint64_t) -> absl::StatusOr<std::vector<raft::Entry>> {
      EXPECT_GE(lo, first_) << "a pass read below the log start";
      std::vector<raft::Entry> out;
      const raft::Index stop = std::min<raft::Index>(hi, lo + 1 + rng() % 3);
      for (raft::Index i = lo; i < stop; ++i) out.push_back(at(i));
      return out;
    };
    log.rewrite = [this](std::vector<raft::Entry> rewritten) {
      for (auto& e : rewritten) {
        raft::Entry& old = entries_[e.index - 1];
        EXPECT_GE(e.index, first_);
        EXPECT_EQ(e.term, old.term);
        EXPECT_EQ(e.base_offset, old.base_offset) << "offsets never change";
        EXPECT_EQ(e.record_count, old.record_count) << "the span never changes";
        old.data = std::move(e.data);
      }
      return absl::OkStatus();
    };
    return log;
  }

  // Every record in the log, by offset, read through the codec as a reader would.
  std::map<uint64_t, Rec> Read() const {
    std::map<uint64_t, Rec> out;
    for (raft::Index i = first_; i <= last_index(); ++i) {
      const raft::Entry& e = at(i);
      if (e.record_count == 0) continue;
      auto batch = DecodeRecordBatch(e.data);
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) continue;
      EXPECT_TRUE(CheckCompactedBatch(*batch, e.record_count).ok());
      EXPECT_EQ(BatchRecordCount(*batch), e.record_count);
      v1::RecordList records;
      if (batch->compression() != v1::COMPRESSION_NONE) {
        auto list = DecompressBatch(*batch);
        EXPECT_TRUE(list.ok()) << list.status();
        records = *list;
      } else {
        *records.mutable_records() = batch->records();
      }
      for (int r = 0; r < records.records_size(); ++r) {
        const uint64_t offset = batch->compression() != v1::COMPRESSION_NONE
                                    ? e.base_offset + r
                                    : RecordOffset(*batch, e.base_offset, r);
        const auto& rec = records.records(r);
        out[offset] = Rec{rec.key(), rec.value(), rec.tombstone(), EntryAppendTime(e.data)};
      }
    }
    return out;
  }

  std::vector<raft::Entry> entries_;
  raft::Index first_ = 1;
};

// The naive model: every record ever written, and which of them a correct compaction leaves.
class NaiveModel {
 public:
  void Add(uint64_t offset, Rec rec) {
    history_[offset] = rec;
    present_.insert(offset);
  }
  // A pass covered every offset below `end_offset` at time now_ms.
  void Pass(uint64_t end_offset, int64_t now_ms, uint64_t tombstone_retention_ms) {
    for (auto it = present_.begin(); it != present_.end();) {
      const uint64_t o = *it;
      const Rec& r = history_.at(o);
      bool remove = false;
      if (o < end_offset && !r.key.empty()) {
        bool later = false;
        for (auto h = history_.upper_bound(o); h != history_.end() && h->first < end_offset; ++h) {
          if (h->second.key == r.key) later = true;
        }
        remove = later || (r.tombstone && r.append_time + static_cast<int64_t>(tombstone_retention_ms) <= now_ms);
      }
      it = remove ? present_.erase(it) : std::next(it);
    }
  }
  std::map<uint64_t, Rec> Expected() const {
    std::map<uint64_t, Rec> out;
    for (uint64_t o : present_) out[o] = history_.at(o);
    return out;
  }
  bool Present(uint64_t offset) const { return present_.contains(offset); }
  // The latest non-tombstone record of each key, and every record without a key.
  std::map<uint64_t, Rec> Final() const {
    std::map<std::string, uint64_t> latest;
    std::map<uint64_t, Rec> out;
    for (const auto& [o, r] : history_) {
      if (r.key.empty()) {
        out[o] = r;
      } else {
        latest[r.key] = o;
      }
    }
    for (const auto& [k, o] : latest) {
      if (!history_.at(o).tombstone) out[o] = history_.at(o);
    }
    return out;
  }

 private:
  std::map<uint64_t, Rec> history_;
  std::set<uint64_t> present_;
};

std::string Describe(const std::map<uint64_t, Rec>& records) {
  std::string out;
  for (const auto& [o, r] : records) {
    out += std::to_string(o) + ":" + r.key + (r.tombstone ? "(x)" : "=" + r.value) + " ";
  }
  return out;
}

// What the random histories exercised, summed over all cases: the test insists each path was taken.
struct Coverage {
  uint64_t passes = 0, removed = 0, stopped_by_lag = 0, stopped_by_cap = 0, drops = 0, rewritten = 0;
};

// One random history: appends and passes interleaved, checked against the model after each pass.
class Case {
 public:
  Case(uint64_t seed, Coverage* coverage) : seed_(seed), rng_(seed), coverage_(coverage) {}

  void Run() {
    const int keys = 1 + static_cast<int>(rng_() % 6);
    const int steps = 20 + static_cast<int>(rng_() % 40);
    for (int step = 0; step < steps && !::testing::Test::HasFailure(); ++step) {
      now_ += static_cast<int64_t>(rng_() % 40);
      const int what = static_cast<int>(rng_() % 10);
      if (what < 6) {
        AppendBatch(keys);
      } else if (what == 6) {
        AppendOther();
      } else {
        RunPassAndCheck(RandomRules());
      }
    }
    if (::testing::Test::HasFailure()) return;
    // Far in the future, without lag or cap: only the latest record of each key is left, tombstones gone.
    CompactionRules final_rules = RulesFor(1, 0, now_ + 1'000'000, 64ull << 20);
    RunPassAndCheck(final_rules);
    EXPECT_EQ(Describe(log_.Read()), Describe(model_.Final())) << "seed " << seed_ << ": after the final pass";
    CheckReplay();
  }

 private:
  CompactionRules RandomRules() {
    const uint64_t retention[] = {1, 30, 200};
    const uint64_t lag[] = {0, 0, 25, 120};
    const uint64_t cap[] = {1, 150, 64ull << 20};  // 1: the map takes one entry per pass
    return RulesFor(retention[rng_() % 3], lag[rng_() % 4], now_, cap[rng_() % 3]);
  }

  void AppendBatch(int keys) {
    v1::ProduceRequest req;
    const int n = 1 + static_cast<int>(rng_() % 4);
    for (int i = 0; i < n; ++i) {
      auto* r = req.add_records();
      if (rng_() % 12 != 0) r->set_key("k" + std::to_string(rng_() % keys));
      if (!r->key().empty() && rng_() % 5 == 0) {
        r->set_tombstone(true);
      } else {
        r->set_value("v" + std::to_string(next_value_++));
      }
    }
    if (rng_() % 3 == 0) {  // idempotent: a retry of it must stay a duplicate after compaction
      req.set_producer_id(1 + rng_() % 2);
      req.set_sequence(sequences_[req.producer_id()]);
      sequences_[req.producer_id()] += n;
    }
    const uint64_t base = log_.end_offset();
    for (int i = 0; i < n; ++i) {
      const auto& r = req.records(i);
      model_.Add(base + i, Rec{r.key(), r.value(), r.tombstone(), now_});
    }
    std::string data;
    if (rng_() % 4 == 0) {
      v1::RecordList list;
      *list.mutable_records() = req.records();
      const std::string plain = list.SerializeAsString();
      auto compressed = Compress(v1::COMPRESSION_ZSTD, plain);
      ASSERT_TRUE(compressed.ok());
      req.clear_records();
      req.set_compression(v1::COMPRESSION_ZSTD);
      req.set_compressed_records(*compressed);
      req.set_record_count(n);
      data = EncodeRecordBatch(req, static_cast<uint32_t>(plain.size()));
    } else {
      data = EncodeRecordBatch(req);
    }
    StampAppendTime(data, now_);
    original_.push_back(data);
    log_.Append(std::move(data), static_cast<uint32_t>(n));
  }

  void AppendOther() {
    std::string data;
    raft::EntryType type = raft::EntryType::kNoop;  // a new leader's entry: no data
    if (rng_() % 2 == 0) {
      internal::OffsetCommit c;
      c.set_group("g");
      c.set_offset(log_.end_offset());
      data = EncodeOffsetCommit(c);
      StampAppendTime(data, now_);
      type = raft::EntryType::kNormal;
    }
    original_.push_back(data);
    log_.Append(std::move(data), 0, type);
  }

  void RunPassAndCheck(const CompactionRules& rules) {
    PassInput in;
    in.first_index = log_.first_index();
    in.applied = log_.last_index();
    in.dirty_from = std::max(log_.first_index(), clean_end_ + 1);
    in.rules = rules;
    in.rewrite_bytes = 1 + rng_() % 300;
    auto out = RunPass(in, log_.Pass(rng_));
    ASSERT_TRUE(out.ok()) << "seed " << seed_ << ": " << out.status();
    ++coverage_->passes;
    coverage_->removed += out->records_removed;
    coverage_->stopped_by_lag += out->stopped_by_lag;
    coverage_->stopped_by_cap += out->stopped_by_cap;
    coverage_->rewritten += out->entries_rewritten;
    CheckEnd(in, *out);
    if (out->end >= in.first_index) {
      model_.Pass(out->end_offset, rules.now_ms, rules.tombstone_retention_ms);
      EXPECT_EQ(out->end_offset, log_.at(out->end).end_offset());
    }
    clean_end_ = std::max(clean_end_, out->end);
    EXPECT_EQ(Describe(log_.Read()), Describe(model_.Expected()))
        << "seed " << seed_ << ": after a pass to index " << out->end << " at " << rules.now_ms;
    // The droppable prefix holds nothing the model keeps; drop it (sometimes), as the host does.
    for (raft::Index i = in.first_index; i <= out->droppable; ++i) {
      for (uint32_t r = 0; r < log_.at(i).record_count; ++r) {
        EXPECT_FALSE(model_.Present(log_.at(i).base_offset + r)) << "seed " << seed_ << ": entry " << i;
      }
    }
    if (out->droppable >= in.first_index && rng_() % 2 == 0) {
      log_.DropPrefix(out->droppable);
      ++coverage_->drops;
    }
  }

  // The pass's end is where the rules say: every entry up to it old enough; it stopped only for a reason.
  void CheckEnd(const PassInput& in, const PassOutcome& out) {
    for (raft::Index i = in.dirty_from; i <= out.end; ++i) {
      if (log_.at(i).record_count == 0) continue;
      EXPECT_LE(EntryAppendTime(log_.at(i).data) + static_cast<int64_t>(in.rules.min_compaction_lag_ms),
                in.rules.now_ms)
          << "seed " << seed_ << ": entry " << i << " was compacted younger than the lag";
    }
    if (!out.stopped_by_lag && !out.stopped_by_cap) {
      EXPECT_EQ(out.end, in.applied) << "seed " << seed_ << ": the pass stopped early for no reason";
    }
    if (out.stopped_by_lag) {
      const raft::Entry& next = log_.at(out.end + 1);
      EXPECT_GT(EntryAppendTime(next.data) + static_cast<int64_t>(in.rules.min_compaction_lag_ms),
                in.rules.now_ms);
    }
    if (out.stopped_by_cap) {
      EXPECT_GE(out.end, in.dirty_from) << "seed " << seed_ << ": the first entry with keys always fits the map";
    }
  }

  // A follower applying the compacted log from the start reaches the same offsets and producer table as the
  // original log built, so retries of compacted batches stay duplicates.
  void CheckReplay() {
    if (log_.first_index() != 1) return;
    PartitionMachine original, compacted;
    StateDelta d1, d2;
    for (raft::Index i = 1; i <= log_.last_index(); ++i) {
      raft::Entry e = log_.at(i);
      ASSERT_TRUE(compacted.Apply(e, &d2).ok()) << "seed " << seed_ << ": entry " << i;
      e.data = original_[i - 1];
      ASSERT_TRUE(original.Apply(e, &d1).ok());
    }
    EXPECT_EQ(compacted.end_offset(), original.end_offset());
    ASSERT_EQ(compacted.producers().size(), original.producers().size());
    for (const auto& [id, p] : original.producers()) {
      EXPECT_EQ(compacted.producers().at(id).SerializeAsString(), p.SerializeAsString()) << "seed " << seed_;
    }
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  Coverage* const coverage_;
  int64_t now_ = 1'700'000'000'000;
  uint64_t next_value_ = 0;
  std::map<uint64_t, uint64_t> sequences_;
  MemoryLog log_;
  NaiveModel model_;
  std::vector<std::string> original_;  // each entry's data as appended
  raft::Index clean_end_ = 0;
};

TEST(CompactionProperty, EveryPassLeavesExactlyTheNaiveModelsRecordsAtTheirOffsets) {
  Coverage coverage;
  for (uint64_t seed = 1; seed <= 3000 && !HasFailure(); ++seed) Case(seed, &coverage).Run();
  // The generator reaches every path: removals, the lag and the cap ending a pass, emptied prefixes dropped.
  EXPECT_GT(coverage.removed, 10'000u);
  EXPECT_GT(coverage.stopped_by_lag, 100u);
  EXPECT_GT(coverage.stopped_by_cap, 100u);
  EXPECT_GT(coverage.drops, 100u);
  EXPECT_GT(coverage.rewritten, 10'000u);
  std::cout << "passes " << coverage.passes << ", records removed " << coverage.removed << ", stopped by lag "
            << coverage.stopped_by_lag << ", by cap " << coverage.stopped_by_cap << ", prefixes dropped "
            << coverage.drops << "\n";
}

}  // namespace
}  // namespace brook::server
