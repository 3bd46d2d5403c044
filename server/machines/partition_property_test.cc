// A seeded property test of the partition machine's CheckProduce against a deliberately naive model that
// remembers every batch ever written (STYLE habit 12).
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/common/limits.h"
#include "server/machines/partition_machine.h"
#include "server/machines/partition_machine_testing.h"

namespace brook::server {
namespace {

using namespace testing;  // NOLINT: the test support of this folder

// ---- Property: CheckProduce against a naive model --------------------------------------------------------------

// Remembers every batch each producer ever had applied and every batch in flight, and decides from the whole
// history: the window is simply "the last kIdempotenceWindowBatches of the history". Every batch written carries
// its producer's canonical records for its sequence (BatchRequest); `other` asks about other records.
class NaiveProducerModel {
 public:
  struct Batch {
    uint64_t sequence;
    uint32_t count;
    raft::Offset base_offset;
    raft::Index index;
  };
  struct Expectation {
    Verdict verdict;
    raft::Offset base_offset = 0;  // kDuplicate, kSequenceReused (applied)
    raft::Index index = 0;         // kInFlight
    uint64_t expected = 0;         // kSequenceGap
  };

  Expectation Expect(uint64_t id, uint64_t seq, uint32_t count, bool other) const {
    const auto& h = History(id);
    const auto& f = InFlight(id);
    if (h.empty() && f.empty()) return {seq == 0 ? Verdict::kNew : Verdict::kUnknownProducer};
    const Batch& last = f.empty() ? h.back() : f.back();
    uint64_t next = last.sequence + last.count;
    if (seq == next) return {Verdict::kNew};
    for (const auto& b : f) {
      if (b.sequence == seq && b.count == count) {
        return {other ? Verdict::kSequenceReused : Verdict::kInFlight, 0, b.index};
      }
    }
    size_t window_start =
        h.size() > Limits::kIdempotenceWindowBatches ? h.size() - Limits::kIdempotenceWindowBatches : 0;
    for (size_t i = window_start; i < h.size(); ++i) {
      if (h[i].sequence == seq && h[i].count == count) {
        return {other ? Verdict::kSequenceReused : Verdict::kDuplicate, h[i].base_offset};
      }
    }
    return {Verdict::kSequenceGap, 0, 0, next};
  }

  uint64_t Next(uint64_t id) const {
    const auto& h = History(id);
    const auto& f = InFlight(id);
    if (!f.empty()) return f.back().sequence + f.back().count;
    if (!h.empty()) return h.back().sequence + h.back().count;
    return 0;
  }

  const std::vector<Batch>& History(uint64_t id) const { return Get(history, id); }
  const std::vector<Batch>& InFlight(uint64_t id) const { return Get(inflight, id); }

  std::map<uint64_t, std::vector<Batch>> history;
  std::map<uint64_t, std::vector<Batch>> inflight;

 private:
  static const std::vector<Batch>& Get(const std::map<uint64_t, std::vector<Batch>>& m, uint64_t id) {
    static const std::vector<Batch> kEmpty;
    auto it = m.find(id);
    return it == m.end() ? kEmpty : it->second;
  }
};

// One seeded run: a leader proposes what it judges new, applies prefixes of what it proposed, loses leadership
// (a prefix survives) and restarts, while a producer population sends next batches, retries and gaps.
class PropertyRun {
 public:
  explicit PropertyRun(uint64_t seed) : seed_(seed), rng_(seed) {}

  // Runs `steps` random steps; counts every checked verdict into `seen`. Returns how many verdicts it checked.
  int Run(int steps, std::map<Verdict, int>& seen) {
    int checks = 0;
    for (int step = 0; step < steps && !::testing::Test::HasFatalFailure(); ++step) {
      uint64_t id = 1 + rng_() % 5;
      int action = static_cast<int>(rng_() % 100);
      uint32_t count = 1 + static_cast<uint32_t>(rng_() % 3);
      if (action >= 93) {
        LoseLeadership();
        continue;
      }
      if (action >= 75) {  // some of the pending entries commit
        size_t n = pending_.empty() ? 0 : 1 + rng_() % pending_.size();
        for (size_t i = 0; i < n; ++i) ApplyFront(true);
        continue;
      }
      bool other = false;
      auto seq = PickSequence(id, action, &count, &other);
      if (!seq) continue;
      Check(step, id, *seq, count, other, seen);
      ++checks;
    }
    return checks;
  }

 private:
  struct Pending {
    raft::Entry entry;
    uint64_t producer_id;
    NaiveProducerModel::Batch batch;
  };

  // The next batch (or a fresh producer's first, at any sequence), a retry of an earlier batch (applied or in
  // flight, maybe past the window, sometimes with another record count), or a gap ahead or behind.
  std::optional<uint64_t> PickSequence(uint64_t id, int action, uint32_t* count, bool* other) {
    if (action < 35) {
      const bool fresh = model_.History(id).empty() && model_.InFlight(id).empty();
      return fresh ? (rng_() % 2 ? 0 : rng_() % 1000) : model_.Next(id);
    }
    if (action < 65) {
      const auto& h = model_.History(id);
      const auto& f = model_.InFlight(id);
      size_t n = h.size() + f.size();
      if (n == 0) return std::nullopt;
      size_t pick = n - 1 - std::min<size_t>(n - 1, rng_() % (Limits::kIdempotenceWindowBatches + 6));
      const auto& b = pick < h.size() ? h[pick] : f[pick - h.size()];
      const uint64_t variant = rng_() % 8;
      *count = variant == 0 ? b.count + 1 : b.count;  // the same sequence but another batch
      *other = variant == 1;                          // the same sequence and count, other records
      return b.sequence;
    }
    uint64_t next = model_.Next(id);
    return rng_() % 2 ? next + 1 + rng_() % 5 : next - std::min<uint64_t>(next, 1 + rng_() % 3);
  }

  void Check(int step, uint64_t id, uint64_t seq, uint32_t count, bool other, std::map<Verdict, int>& seen) {
    auto want = model_.Expect(id, seq, count, other);
    auto got = leader_.machine.CheckProduce(Key(id, seq, count, 0, other));
    ++seen[want.verdict];
    ASSERT_EQ(got.verdict, want.verdict) << "seed " << seed_ << " step " << step << ": producer " << id << " seq "
                                         << seq << " count " << count << " next " << model_.Next(id) << ": want "
                                         << VerdictName(want.verdict) << " got " << VerdictName(got.verdict);
    switch (want.verdict) {
      case Verdict::kDuplicate:
        ASSERT_EQ(got.original.base_offset(), want.base_offset) << "seed " << seed_ << " step " << step;
        break;
      case Verdict::kInFlight:
        ASSERT_EQ(got.inflight_index, want.index) << "seed " << seed_ << " step " << step;
        break;
      case Verdict::kSequenceGap:
        ASSERT_EQ(got.expected_sequence, want.expected) << "seed " << seed_ << " step " << step;
        break;
      case Verdict::kSequenceReused:
        if (want.index == 0) {
          ASSERT_EQ(got.original.base_offset(), want.base_offset) << "seed " << seed_;
        } else {
          ASSERT_EQ(got.original.raft_index(), want.index) << "seed " << seed_;
        }
        break;
      case Verdict::kNew:
        Propose(id, seq, count);  // the leader proposes what it judged new
        break;
      case Verdict::kFenced:
      case Verdict::kUnknownProducer:
        break;
    }
  }

  void Propose(uint64_t id, uint64_t seq, uint32_t count) {
    LogBuilder b;
    b.next_index = next_index_++;
    b.next_offset = pending_.empty() ? leader_.machine.end_offset() : pending_.back().entry.end_offset();
    b.now_ms = now_ms_++;
    raft::Entry e = b.Produce(id, seq, count);
    NaiveProducerModel::Batch batch{seq, count, e.base_offset, e.index};
    leader_.machine.AddInFlight(Key(id, seq, count), e.index);
    model_.inflight[id].push_back(batch);
    pending_.push_back(Pending{std::move(e), id, batch});
  }

  void ApplyFront(bool still_in_flight) {
    Pending p = std::move(pending_.front());
    pending_.erase(pending_.begin());
    auto applied = leader_.Apply(p.entry);
    ASSERT_TRUE(applied.ok()) << "seed " << seed_ << ": " << applied.status();
    model_.history[p.producer_id].push_back(p.batch);
    if (still_in_flight) {
      auto& f = model_.inflight[p.producer_id];
      ASSERT_FALSE(f.empty());
      f.erase(f.begin());
    }
  }

  // Leadership lost: a prefix of the pending entries survives in the next leader's log; sometimes a restart.
  void LoseLeadership() {
    leader_.machine.ClearInFlight();
    model_.inflight.clear();
    size_t keep = pending_.empty() ? 0 : rng_() % (pending_.size() + 1);
    for (size_t i = 0; i < keep; ++i) ApplyFront(false);
    pending_.clear();
    next_index_ = leader_.machine.applied_index() + 1;
    if (rng_() % 2) leader_.machine = leader_.Reloaded();
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  Replica leader_;
  NaiveProducerModel model_;
  std::vector<Pending> pending_;  // proposed, in log order, not yet applied
  raft::Index next_index_ = 1;
  int64_t now_ms_ = 1'000;
};

TEST(IdempotenceProperty, VerdictsMatchNaiveModelOverRandomProducesRetriesAndGaps) {
  constexpr int kSeeds = 2'000;
  constexpr int kSteps = 200;
  int checks = 0;
  std::map<Verdict, int> seen;  // every verdict must be exercised, not just kNew
  for (uint64_t seed = 1; seed <= kSeeds && !HasFatalFailure(); ++seed)
    checks += PropertyRun(seed).Run(kSteps, seen);
  EXPECT_GT(checks, kSeeds * kSteps / 2) << "the property test should mostly check verdicts";
  for (Verdict v : {Verdict::kNew, Verdict::kDuplicate, Verdict::kInFlight, Verdict::kSequenceGap,
                    Verdict::kSequenceReused, Verdict::kUnknownProducer}) {
    EXPECT_GT(seen[v], kSeeds) << VerdictName(v) << " was checked only " << seen[v] << " times";
  }
}

}  // namespace
}  // namespace brook::server
