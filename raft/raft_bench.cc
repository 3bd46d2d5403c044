// Propose-to-commit throughput of one in-process 3-node group (CPU only: MemoryLog "disks", an in-memory FIFO
// network). Measures the Raft core's cost per entry, not I/O.
//
//   ninja -C build-raft raft_bench && ./build-raft/raft/raft_bench
#include <string>

#include "benchmark/benchmark.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

// Each iteration proposes `batch` entries of `size` bytes at the leader, then runs the host loop of all three
// nodes until everything is committed and applied everywhere.
void BM_ProposeToCommit(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  Config base;
  base.max_uncommitted_bytes = 1ull << 40;
  sim::Cluster c(base);
  if (!c.AddNodes(3).ok()) state.SkipWithError("AddNodes failed");
  c.node(1).Campaign();
  c.Stabilize();
  const std::string payload(size, 'r');
  int64_t entries = 0;
  for (auto _ : state) {
    for (int k = 0; k < batch; ++k) {
      if (!c.node(1).Propose(payload, 1).ok()) state.SkipWithError("propose failed");
    }
    c.Stabilize();
    entries += batch;
    // Keep memory flat: the state machines' applied lists are the only thing that grows.
    for (NodeId id : {1, 2, 3}) c.replica(id).applied_entries.clear();
  }
  if (c.node(3).commit_index() != c.node(1).last_index()) state.SkipWithError("not everything committed");
  state.SetItemsProcessed(entries);
  state.SetBytesProcessed(entries * static_cast<int64_t>(size));
}
BENCHMARK(BM_ProposeToCommit)->Args({1, 1024})->Args({16, 1024})->Args({128, 1024})->Args({128, 64});

}  // namespace
}  // namespace brook::raft

BENCHMARK_MAIN();
