#include "tests/integration/workload.h"

#include <random>
#include <set>

#include "absl/strings/str_cat.h"

namespace brook::testing {

void Workload::Start() {
  for (int p = 0; p < options_.producers; ++p) threads_.emplace_back([this, p] { Run(p); });
}

void Workload::Join() {
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Workload::Run(int producer) {
  std::mt19937_64 rng(static_cast<uint64_t>(producer) * 7919 + 17);
  const uint64_t producer_id = rng() | 1;
  std::map<uint32_t, uint64_t> sequence;
  auto deadline = std::chrono::steady_clock::now() + options_.max_duration;
  std::string pad(static_cast<size_t>(options_.value_bytes), 'x');
  for (int b = 0; b < options_.max_batches_per_producer && !stop_.load(); ++b) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    uint32_t partition = static_cast<uint32_t>((producer + b) % static_cast<int>(options_.partitions));
    v1::ProduceRequest req;
    req.set_topic(options_.topic);
    req.set_partition(partition);
    req.set_producer_id(producer_id);
    req.set_sequence(sequence[partition]);
    std::vector<std::string> values;
    for (int r = 0; r < options_.records_per_batch; ++r) {
      std::string v =
          absl::StrCat("p", producer, "-", partition, "-", sequence[partition] + static_cast<uint64_t>(r), "-");
      values.push_back(v);
      auto* rec = req.add_records();
      rec->set_key(absl::StrCat("k", producer));
      rec->set_value(v + pad);
    }
    v1::ProduceResponse resp;
    auto s = client_->Produce(req, &resp, std::chrono::seconds(15));
    if (!s.ok()) {
      // Outcome unknown: this producer's later batches would be a sequence gap after a lost one, so it stops.
      failed_batches_.fetch_add(1);
      std::lock_guard lock(mu_);
      if (first_failure_.empty()) {
        first_failure_ = absl::StrCat("producer ", producer, " partition ", partition, " sequence ",
                                      sequence[partition], ": ", s.error_code(), " ", s.error_message());
      }
      return;
    }
    sequence[partition] += static_cast<uint64_t>(options_.records_per_batch);
    acked_batches_.fetch_add(1);
    acked_records_.fetch_add(options_.records_per_batch);
    std::lock_guard lock(mu_);
    for (int r = 0; r < options_.records_per_batch; ++r) {
      acked_[partition][resp.base_offset() + static_cast<uint64_t>(r)] = values[static_cast<size_t>(r)] + pad;
    }
  }
}

std::map<uint32_t, uint64_t> Workload::AckedEnd() const {
  std::lock_guard lock(mu_);
  std::map<uint32_t, uint64_t> out;
  for (const auto& [p, offsets] : acked_) out[p] = offsets.empty() ? 0 : offsets.rbegin()->first + 1;
  return out;
}

std::string Workload::Verify(const std::vector<size_t>& nodes) {
  return Verify([&](uint32_t) { return nodes; });
}

std::string Workload::Verify(const std::function<std::vector<size_t>(uint32_t partition)>& nodes_of) {
  std::string problems;
  auto problem = [&](const std::string& what) {
    if (problems.size() < 4000) absl::StrAppend(&problems, what, "\n");
  };
  std::map<uint32_t, std::map<uint64_t, std::string>> acked;
  {
    std::lock_guard lock(mu_);
    acked = acked_;
  }
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    uint64_t end = acked[p].empty() ? 0 : acked[p].rbegin()->first + 1;
    std::vector<std::vector<v1::StoredRecord>> reads;
    for (size_t n : nodes_of(p)) {
      std::vector<v1::StoredRecord> records;
      auto s = client_->ReadAll(n, options_.topic, p, 0, end, &records);
      if (!s.ok()) {
        problem(absl::StrCat("partition ", p, " node index ", n, ": read failed: ", s.error_message()));
        continue;
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        if (r.offset() != i)
          problem(absl::StrCat("partition ", p, " node index ", n, ": offset ", r.offset(), " at position ", i,
                               " (offsets not dense)"));
        if (!seen.insert(r.value()).second) {
          problem(absl::StrCat("partition ", p, " node index ", n, ": duplicate value at offset ", r.offset()));
        }
        auto it = acked[p].find(r.offset());
        if (it != acked[p].end() && it->second != r.value()) {
          problem(absl::StrCat("partition ", p, " node index ", n, ": offset ", r.offset(),
                               " holds another value than was acknowledged there"));
        }
      }
      for (const auto& [offset, value] : acked[p]) {
        if (offset >= records.size()) {
          problem(absl::StrCat("partition ", p, " node index ", n, ": acknowledged offset ", offset, " missing"));
          break;
        }
      }
      reads.push_back(std::move(records));
    }
    for (size_t i = 1; i < reads.size(); ++i) {
      if (reads[i].size() != reads[0].size()) {
        problem(absl::StrCat("partition ", p, ": nodes disagree on the number of records up to ", end));
        continue;
      }
      for (size_t j = 0; j < reads[i].size(); ++j) {
        if (reads[i][j].value() != reads[0][j].value() || reads[i][j].key() != reads[0][j].key()) {
          problem(absl::StrCat("partition ", p, ": nodes disagree at offset ", j));
          break;
        }
      }
    }
  }
  return problems;
}

}  // namespace brook::testing
