// A produce workload for integration tests: producer threads with idempotent producer ids write batches of
// unique values and record every acknowledged offset; Verify reads every partition back from given nodes and
// checks that every acknowledged record is there once, at its acknowledged offset, identical on every node.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/raw_client.h"

namespace brook::testing {

class Workload {
 public:
  struct Options {
    std::string topic;
    uint32_t partitions = 3;
    int producers = 4;
    int records_per_batch = 10;
    int value_bytes = 100;
    // Stop after this many batches per producer, or when Stop() is called, whichever comes first.
    int max_batches_per_producer = 1 << 30;
    std::chrono::milliseconds max_duration{60'000};
  };

  Workload(RawClient* client, Options options) : client_(client), options_(std::move(options)) {}
  ~Workload() { Join(); }

  void Start();
  void Stop() { stop_.store(true); }
  void Join();

  int64_t acked_batches() const { return acked_batches_.load(); }
  int64_t acked_records() const { return acked_records_.load(); }
  int64_t failed_batches() const { return failed_batches_.load(); }
  // The status of the first batch that failed ("" if none), for failure messages.
  std::string first_failure() const {
    std::lock_guard lock(mu_);
    return first_failure_;
  }
  // The end offset of every partition as far as acknowledgements go.
  std::map<uint32_t, uint64_t> AckedEnd() const;

  // Reads every partition from each node in `nodes` up to its acknowledged end and checks the promises.
  // Returns "" on success, else a description of the first violations.
  std::string Verify(const std::vector<size_t>& nodes);
  // The same, reading each partition from the nodes `nodes_of(partition)` names (its replicas after a move).
  std::string Verify(const std::function<std::vector<size_t>(uint32_t partition)>& nodes_of);

 private:
  void Run(int producer);

  RawClient* client_;
  Options options_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_batches_{0};
  std::atomic<int64_t> acked_records_{0};
  std::atomic<int64_t> failed_batches_{0};
  mutable std::mutex mu_;
  // partition -> offset -> value acknowledged there
  std::map<uint32_t, std::map<uint64_t, std::string>> acked_;
  std::string first_failure_;
};

}  // namespace brook::testing
