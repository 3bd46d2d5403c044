// storage_bench: append throughput of Store::Write with one sync per call (the node's group commit), and the time
// to reopen a database of many groups. Prints a table; see storage/README.md "Benchmark" for figures.
//
//   storage_bench [--seconds=2] [--dir=/var/tmp] [--entry_bytes=1024] [--batches=1,16,256] [--groups=1,100,1000]
//                 [--compression=lz4|zstd|none] [--sync=true] [--reopen_groups=1000] [--reopen_entries=64]
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/crc32c.h"
#include "storage/store.h"

ABSL_FLAG(double, seconds, 2.0, "Duration of each cell of the table, in seconds.");
ABSL_FLAG(std::string, dir, "/var/tmp", "Directory on the disk to measure (not a tmpfs); a fresh DB per cell.");
ABSL_FLAG(int, entry_bytes, 1024, "Bytes of data per entry.");
ABSL_FLAG(std::string, batches, "1,16,256", "Entries per Write call, comma-separated.");
ABSL_FLAG(std::string, groups, "1,100,1000", "Number of groups the entries are spread over, comma-separated.");
ABSL_FLAG(std::string, compression, "lz4", "Compression of the log column family: lz4, zstd or none.");
ABSL_FLAG(bool, sync, true, "Sync every Write (false measures the CPU path only).");
ABSL_FLAG(int, reopen_groups, 1000, "Groups in the reopen measurement (0 skips it).");
ABSL_FLAG(int, reopen_entries, 64, "Entries per group in the reopen measurement.");

namespace brook::storage {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    int v;
    if (absl::SimpleAtoi(part, &v) && v > 0) out.push_back(v);
  }
  return out;
}

Options BenchOptions() {
  Options o;
  o.sync = absl::GetFlag(FLAGS_sync);
  const std::string c = absl::GetFlag(FLAGS_compression);
  o.log_compression = c == "zstd" ? Compression::kZstd : c == "none" ? Compression::kNone : Compression::kLz4;
  return o;
}

std::string FreshDir(const std::string& name) {
  const std::string path = absl::StrCat(absl::GetFlag(FLAGS_dir), "/brook-bench-", name, "-", getpid());
  std::filesystem::remove_all(path);
  return path;
}

// User + system CPU time of the whole process (writer and RocksDB's background threads), in seconds.
double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct CellResult {
  double entries_per_s, mb_per_s, p50_ms, p99_ms, cpu_us_per_entry;
  uint64_t stall_ms, l0_files;
};

CellResult RunCell(int batch, int groups, const std::string& payload) {
  const std::string path = FreshDir(absl::StrCat("b", batch, "-g", groups));
  auto opened = Store::Open(path, BenchOptions());
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), opened.status().ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<Store> store = *std::move(opened);

  // Entry n of the run goes to group n % groups: a Write of `batch` entries touches min(batch, groups) groups.
  const int touched = std::min(batch, groups);
  std::vector<GroupWrite> writes(touched);
  std::vector<raft::Index> next_index(groups, 1);
  uint64_t n = 0;
  std::vector<double> latencies_ms;
  const auto duration = std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
  const auto start = Clock::now();
  const double cpu_start = ProcessCpuSeconds();
  while (Clock::now() - start < duration) {
    for (auto& w : writes) w.entries.clear();
    const int first_group = static_cast<int>(n % groups);
    for (int i = 0; i < batch; ++i, ++n) {
      const int g = static_cast<int>(n % groups);
      GroupWrite& w = writes[(g - first_group + groups) % groups % touched];
      w.group = static_cast<raft::GroupId>(g + 1);
      raft::Entry& e = w.entries.emplace_back();
      e.index = next_index[g]++;
      e.term = 1;
      e.base_offset = e.index - 1;
      e.record_count = 1;
      e.data = payload;
    }
    const auto t0 = Clock::now();
    absl::Status s = store->Write(writes);
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!s.ok()) {
      std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = ProcessCpuSeconds() - cpu_start;
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const StoreStats stats = store->Stats();
  store.reset();
  std::filesystem::remove_all(path);
  const auto pct = [&](double p) { return latencies_ms[static_cast<size_t>(p * (latencies_ms.size() - 1))]; };
  return CellResult{.entries_per_s = n / secs,
                    .mb_per_s = n * static_cast<double>(payload.size()) / secs / 1e6,
                    .p50_ms = pct(0.50),
                    .p99_ms = pct(0.99),
                    .cpu_us_per_entry = cpu * 1e6 / n,
                    .stall_ms = stats.stall_micros / 1000,
                    .l0_files = stats.l0_files};
}

// The disk's own synced sequential write rate, measured like ENVIRONMENT.md (append `chunk` bytes, fdatasync),
// so the table can be read against the disk of this run rather than a figure from another day.
void MeasureDisk(size_t chunk) {
  const std::string path = FreshDir(absl::StrCat("disk-", chunk));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const std::string buf(chunk, 'x');
  std::vector<double> ms;
  const auto start = Clock::now();
  while (ms.size() < 20 || (Clock::now() - start < std::chrono::milliseconds(700) && ms.size() < 2000)) {
    const auto t0 = Clock::now();
    if (write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) || fdatasync(fd) != 0) break;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  close(fd);
  unlink(path.c_str());
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  const double p50 = ms[ms.size() / 2];
  std::printf("disk baseline: %zu KiB write + fdatasync: p50 %.3f ms, p99 %.3f ms -> %.1f MB/s\n", chunk >> 10,
              p50, ms[ms.size() * 99 / 100], chunk / p50 / 1e3);
}

// Raw synced appends of `chunk` bytes (write + fdatasync) for `seconds`: MB/s over the window. Measured right
// before each cell with the cell's bytes per Write, because this machine's disk rate changes minute to minute.
double RawSyncedRate(size_t chunk, double seconds) {
  const std::string path = FreshDir(absl::StrCat("raw-", chunk));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  const std::string buf(chunk, 'x');
  uint64_t bytes = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
    if (write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) || fdatasync(fd) != 0) break;
    bytes += chunk;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  unlink(path.c_str());
  return bytes / secs / 1e6;
}

void MeasureReopen(int groups, int entries, const std::string& payload, bool clean) {
  const std::string path = FreshDir("reopen");
  {
    Options options = BenchOptions();
    options.flush_on_close = clean;  // Not flushing leaves the WAL to replay, as after a crash.
    auto store = Store::Open(path, options);
    if (!store.ok()) std::exit(1);
    for (int i = 0; i < entries; ++i) {
      std::vector<GroupWrite> writes(groups);
      for (int g = 0; g < groups; ++g) {
        writes[g].group = g + 1;
        writes[g].hard_state = raft::HardState{.term = 1, .vote = 1, .commit = static_cast<raft::Index>(i)};
        writes[g].entries.push_back(raft::Entry{.index = static_cast<raft::Index>(i + 1),
                                                .term = 1,
                                                .type = raft::EntryType::kNormal,
                                                .base_offset = static_cast<raft::Offset>(i),
                                                .record_count = 1,
                                                .data = payload});
      }
      if (!(*store)->Write(writes).ok()) std::exit(1);
    }
  }
  const auto t0 = Clock::now();
  auto store = Store::Open(path, BenchOptions());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!store.ok() || (*store)->ListGroups().size() != static_cast<size_t>(groups)) std::exit(1);
  const StoreStats s = (*store)->Stats();
  std::printf("reopen %s: %d groups x %d entries (%.0f MB): %.1f ms (RocksDB %.1f ms, group cache %.1f ms)\n",
              clean ? "after a clean close" : "after a crash (WAL replay)", groups, entries,
              groups * static_cast<double>(entries) * payload.size() / 1e6, ms, s.open_rocksdb_micros / 1e3,
              s.open_cache_micros / 1e3);
  store->reset();
  std::filesystem::remove_all(path);
}

int Main() {
  std::mt19937_64 rng(1);
  std::string payload(absl::GetFlag(FLAGS_entry_bytes), '\0');
  for (char& c : payload) c = static_cast<char>(rng());  // Incompressible, like compressed record batches.
  std::printf(
      "storage_bench: %d-byte entries, one synced Write per batch, %.1f s per cell, dir %s, "
      "compression %s, crc32c %s%s\n\n",
      static_cast<int>(payload.size()), absl::GetFlag(FLAGS_seconds), absl::GetFlag(FLAGS_dir).c_str(),
      absl::GetFlag(FLAGS_compression).c_str(), Crc32cHardwareAccelerated() ? "sse4.2" : "table",
      absl::GetFlag(FLAGS_sync) ? "" : ", NO SYNC");
  MeasureDisk(1 << 10);
  MeasureDisk(256 << 10);
  MeasureDisk(1 << 20);
  std::printf(
      "\n| entries/Write | groups | entries/s | MB/s | Write p50 ms | Write p99 ms | CPU us/entry | raw disk MB/s "
      "| of raw |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::string> notes;
  for (int batch : ParseList(absl::GetFlag(FLAGS_batches))) {
    for (int groups : ParseList(absl::GetFlag(FLAGS_groups))) {
      const double raw = RawSyncedRate(batch * payload.size(), 0.5);
      const CellResult r = RunCell(batch, groups, payload);
      std::printf("| %d | %d | %.0f | %.1f | %.3f | %.3f | %.2f | %.1f | %.0f%% |\n", batch, groups,
                  r.entries_per_s, r.mb_per_s, r.p50_ms, r.p99_ms, r.cpu_us_per_entry, raw,
                  raw > 0 ? 100 * r.mb_per_s / raw : 0.0);
      if (r.stall_ms > 0)
        notes.push_back(absl::StrCat(batch, " x ", groups, ": RocksDB stalled writes ", r.stall_ms, " ms"));
      std::fflush(stdout);
    }
  }
  for (const std::string& n : notes) std::printf("%s\n", n.c_str());
  if (absl::GetFlag(FLAGS_reopen_groups) > 0) {
    std::printf("\n");
    MeasureReopen(absl::GetFlag(FLAGS_reopen_groups), absl::GetFlag(FLAGS_reopen_entries), payload, true);
    MeasureReopen(absl::GetFlag(FLAGS_reopen_groups), absl::GetFlag(FLAGS_reopen_entries), payload, false);
  }
  return 0;
}

}  // namespace
}  // namespace brook::storage

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return brook::storage::Main();
}
