// The process the crash test kills: `storage_crash_child DIR SEED` opens the store in DIR, continues the seeded
// workload of crash_workload.h from the last batch the store holds, and prints each batch id on stdout once its
// synced Write has returned. Runs until killed. Exit code 2 and a message on stderr on any error.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/crash_workload.h"

namespace {

[[noreturn]] void Fail(const absl::Status& s) {
  std::fprintf(stderr, "crash child: %s\n", s.ToString().c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace brook::storage;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR SEED\n", argv[0]);
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  Options options;
  options.entry_timestamp_ms = crash::EntryTimestamp;
  options.log_write_buffer_bytes = 8 << 20;  // Small memtables: flushes (and their crashes) happen often.
  options.compact_after_drop_bytes = 256 << 10;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(argv[1], options);
  if (!store.ok()) Fail(store.status());
  absl::StatusOr<std::optional<std::string>> stored = (*store)->StateGet(crash::kBatchGroup, "batch");
  if (!stored.ok()) Fail(stored.status());
  uint64_t done = 0;
  if (stored->has_value() && !absl::SimpleAtoi(**stored, &done)) Fail(absl::DataLossError("bad batch key"));

  crash::Model model(seed);
  for (uint64_t id = 1; id <= done; ++id) model.NextBatch(id);
  for (uint64_t id = done + 1;; ++id) {
    const std::vector<GroupWrite> writes = model.NextBatch(id);
    if (absl::Status s = (*store)->Write(writes); !s.ok()) Fail(s);
    const std::string line = absl::StrCat(id, "\n");
    if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 0;
    if (id % crash::kDropEvery == 0) {
      // Retention on one group, keeping more entries than a batch can overwrite.
      const brook::raft::GroupId g = 1 + (id / crash::kDropEvery) % crash::kGroups;
      const brook::raft::Index last = (*store)->LastIndex(g);
      if (last > 8) {
        if (absl::Status s = (*store)->DropPrefix(g, last - 8); !s.ok()) Fail(s);
      }
    }
  }
}
