#include "storage/crash_workload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace brook::storage::crash {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer: a good 64-bit hash.
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
uint64_t Hash(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) { return Mix(Mix(Mix(Mix(a) ^ b) ^ c) ^ d); }

absl::Status Mismatch(raft::GroupId g, std::string what) {
  return absl::InternalError(absl::StrCat("group ", g, ": ", what));
}

}  // namespace

std::vector<Step> PlanBatch(uint64_t seed, uint64_t id) {
  std::vector<Step> steps;
  const uint64_t h = Hash(seed, id);
  const int touched = 1 + static_cast<int>(h % 4);  // 1..4 groups per batch.
  for (int i = 0; i < touched; ++i) {
    const raft::GroupId g = 1 + (Hash(seed, id, i) % kGroups);
    if (std::any_of(steps.begin(), steps.end(), [g](const Step& s) { return s.group == g; })) continue;
    const uint64_t r = Hash(seed, id, i, 1);
    const uint32_t overwrite = (r % 5 == 0) ? static_cast<uint32_t>(1 + (r >> 8) % 3) : 0;
    steps.push_back(Step{g, overwrite, overwrite + 1 + static_cast<uint32_t>((r >> 16) % 6)});
  }
  return steps;
}

std::string EntryData(uint64_t seed, raft::GroupId group, raft::Index index, raft::Term term) {
  const uint64_t h = Hash(seed, group, index, term);
  std::string data(16 + h % 3000, '\0');
  uint64_t x = h;
  for (char& c : data) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(x >> 56);
  }
  return data;
}

uint32_t EntryRecords(uint64_t seed, raft::GroupId group, raft::Index index, raft::Term term) {
  return 1 + static_cast<uint32_t>(Hash(seed, group, index, term ^ 0xABCD) % 3);
}

std::vector<GroupWrite> Model::NextBatch(uint64_t id) {
  std::vector<GroupWrite> writes;
  for (const Step& step : PlanBatch(seed_, id)) {
    std::vector<Slot>& log = logs_[step.group - 1];
    // Overwrite at most 3 trailing entries; the child drops prefixes so that more than 3 always remain.
    const uint32_t overwrite = std::min<uint32_t>(step.overwrite, static_cast<uint32_t>(log.size()));
    log.resize(log.size() - overwrite);
    GroupWrite w{.group = step.group, .hard_state = raft::HardState{.term = id, .vote = 1, .commit = 0}};
    raft::Offset offset = log.empty() ? 0 : log.back().base_offset + log.back().records;
    for (uint32_t i = 0; i < step.append - step.overwrite + overwrite; ++i) {
      raft::Entry e;
      e.index = log.size() + 1;
      e.term = id;
      e.base_offset = offset;
      e.record_count = EntryRecords(seed_, step.group, e.index, id);
      e.data = EntryData(seed_, step.group, e.index, id);
      offset += e.record_count;
      log.push_back(Slot{id, e.base_offset, e.record_count});
      w.entries.push_back(std::move(e));
    }
    w.state_puts = {{"last_batch", absl::StrCat(id)}};
    last_touch_[step.group - 1] = id;
    writes.push_back(std::move(w));
  }
  writes.push_back(GroupWrite{.group = kBatchGroup, .state_puts = {{"batch", absl::StrCat(id)}}});
  batches_ = id;
  return writes;
}

absl::Status CheckStore(const Store& store, const Model& model) {
  for (raft::GroupId g = 1; g <= kGroups; ++g) {
    const std::vector<Model::Slot>& log = model.log(g);
    const LogBounds b = store.Bounds(g);
    if (b.last_index != log.size()) {
      return Mismatch(g, absl::StrCat("last index ", b.last_index, ", expected ", log.size()));
    }
    if (b.first_index < 1 || b.first_index > log.size() + 1) {
      return Mismatch(g, absl::StrCat("first index ", b.first_index, " outside [1, ", log.size() + 1, "]"));
    }
    absl::StatusOr<std::vector<raft::Entry>> entries =
        store.Entries(g, b.first_index, b.last_index + 1, UINT64_MAX);
    if (!entries.ok()) return entries.status();
    if (entries->size() != b.last_index + 1 - b.first_index) return Mismatch(g, "short read");
    for (const raft::Entry& e : *entries) {
      const Model::Slot& s = log[e.index - 1];
      if (e.term != s.term || e.base_offset != s.base_offset || e.record_count != s.records ||
          e.data != EntryData(model.seed(), g, e.index, s.term)) {
        return Mismatch(g, absl::StrCat("entry ", e.index, " (term ", e.term, ") differs from batch ", s.term));
      }
      absl::StatusOr<raft::Index> at = store.FindIndexForOffset(g, e.base_offset + e.record_count - 1);
      if (!at.ok()) return at.status();
      if (*at != e.index) return Mismatch(g, absl::StrCat("offset index maps entry ", e.index, " to ", *at));
    }
    // Time index: entries of batch t have timestamp 10 t; check the first entry of every term present.
    raft::Term prev_term = 0;
    for (const raft::Entry& e : *entries) {
      if (e.term == prev_term) continue;
      prev_term = e.term;
      absl::StatusOr<raft::Offset> o = store.FindOffsetForTimestamp(g, static_cast<int64_t>(e.term) * 10);
      if (!o.ok()) return o.status();
      if (*o != e.base_offset) {
        return Mismatch(
            g, absl::StrCat("time index gives offset ", *o, " for term ", e.term, ", expected ", e.base_offset));
      }
    }
    if (!log.empty()) {
      absl::StatusOr<raft::Term> t = store.Term(g, b.first_index - 1);
      if (!t.ok()) return t.status();
      const raft::Term want = b.first_index == 1 ? 0 : log[b.first_index - 2].term;
      if (*t != want) return Mismatch(g, absl::StrCat("log start term ", *t, ", expected ", want));
    }
    absl::StatusOr<raft::HardState> hs = store.GetHardState(g);
    if (!hs.ok()) return hs.status();
    if (hs->term != model.last_touch(g)) {
      return Mismatch(g, absl::StrCat("hard state term ", hs->term, ", expected ", model.last_touch(g)));
    }
    absl::StatusOr<std::optional<std::string>> last = store.StateGet(g, "last_batch");
    if (!last.ok()) return last.status();
    const std::string want = model.last_touch(g) == 0 ? "" : absl::StrCat(model.last_touch(g));
    if (last->value_or("") != want) return Mismatch(g, absl::StrCat("last_batch '", last->value_or(""), "'"));
  }
  return absl::OkStatus();
}

}  // namespace brook::storage::crash
