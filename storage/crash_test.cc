// Crash safety of Store::Write: a child process (storage_crash_child) appends seeded batches to a database on the
// real disk and prints each batch id once its synced Write returned; we SIGKILL it at a random moment, reopen the
// database and check that
//   - every batch the child reported is there, whole (entries, bytes, CRCs, offset and time index, hard state),
//   - no partial batch is visible: the store equals the model after exactly B batches, where B (stored in the same
//     WriteBatch) is the last reported batch or the one in flight at the kill.
// Then the next round restarts the child on the same database. Seeded, bounded in rounds and time.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/crash_workload.h"
#include "storage/test_util.h"

extern char** environ;

namespace brook::storage {
namespace {

constexpr auto kTimeBudget = std::chrono::seconds(25);
constexpr int kMaxRounds = 300;
constexpr int kMinRounds = 20;
constexpr uint64_t kMinProgress = 100;  // batches reported synced over all rounds

struct Child {
  pid_t pid = -1;
  int out = -1;  // Read end of the child's stdout.
};

Child Spawn(const std::string& dir, uint64_t seed) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  const std::string seed_arg = absl::StrCat(seed);
  std::string path = BROOK_CRASH_CHILD;
  char* argv[] = {path.data(), const_cast<char*>(dir.c_str()), const_cast<char*>(seed_arg.c_str()), nullptr};
  Child c;
  const int rc = posix_spawn(&c.pid, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return {};
  }
  c.out = fds[0];
  return c;
}

// Reads whatever the child printed until `deadline` (or EOF), appending complete lines' ids to `reported`.
void ReadReports(int fd, std::chrono::steady_clock::time_point deadline, std::string* buffer, uint64_t* reported,
                 bool* eof) {
  while (!*eof) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
      *eof = true;
      break;
    }
    buffer->append(chunk, n);
    size_t nl;
    while ((nl = buffer->find('\n')) != std::string::npos) {
      uint64_t id = 0;
      if (absl::SimpleAtoi(buffer->substr(0, nl), &id)) *reported = std::max(*reported, id);
      buffer->erase(0, nl + 1);
    }
  }
}

TEST(StoreCrash, SyncedBatchesSurviveSigkillWholeAndNothingPartialIsVisible) {
  testing::ScopedDir dir("crash");
  const uint64_t seed = 20261126;
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  uint64_t reported = 0;  // Highest batch id any child reported as synced.
  int rounds = 0;
  int killed_before_first_report = 0;
  Options options;
  options.entry_timestamp_ms = crash::EntryTimestamp;
  options.log_write_buffer_bytes = 8 << 20;

  // A loaded machine (a sanitizer build beside other work) makes less progress per round: rounds go on, within
  // three budgets, until the children have made enough for the check below to mean something.
  auto go_on = [&] {
    const auto spent = std::chrono::steady_clock::now() - start;
    return rounds < kMinRounds || spent < kTimeBudget || (reported <= kMinProgress && spent < 3 * kTimeBudget);
  };
  while (rounds < kMaxRounds && go_on()) {
    ++rounds;
    Child child = Spawn(dir.path(), seed);
    ASSERT_GT(child.pid, 0) << "could not start " << BROOK_CRASH_CHILD;
    // Kill after 0-300 ms: some rounds die while RocksDB recovers, most in the middle of the write loop.
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 300'000);
    std::string buffer;
    bool eof = false;
    const uint64_t reported_before = reported;
    ReadReports(child.out, kill_at, &buffer, &reported, &eof);
    ASSERT_EQ(kill(child.pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    ReadReports(child.out, std::chrono::steady_clock::now() + std::chrono::seconds(5), &buffer, &reported, &eof);
    close(child.out);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "round " << rounds << ": the child exited by itself (status " << status << "); see its stderr above";
    if (reported == reported_before) ++killed_before_first_report;

    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.path(), options);
    ASSERT_TRUE(store.ok()) << "round " << rounds << ": " << store.status();
    absl::StatusOr<std::optional<std::string>> stored = (*store)->StateGet(crash::kBatchGroup, "batch");
    ASSERT_TRUE(stored.ok()) << stored.status();
    uint64_t durable = 0;
    if (stored->has_value()) {
      ASSERT_TRUE(absl::SimpleAtoi(**stored, &durable));
    }
    ASSERT_GE(durable, reported) << "round " << rounds << ": batch " << reported
                                 << " was reported synced but the store holds only " << durable;
    ASSERT_LE(durable, reported + 1) << "round " << rounds << ": at most the one batch in flight may be extra";

    crash::Model model(seed);
    for (uint64_t id = 1; id <= durable; ++id) model.NextBatch(id);
    absl::Status check = crash::CheckStore(**store, model);
    ASSERT_TRUE(check.ok()) << "round " << rounds << " after batch " << durable << ": " << check;
    reported = durable;  // The next child continues from what is durable.
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("crash test: %d rounds in %.1f s, %llu batches durable, %d kills before the first report\n", rounds,
              secs, static_cast<unsigned long long>(reported), killed_before_first_report);
  EXPECT_GE(rounds, kMinRounds);
  EXPECT_GT(reported, kMinProgress) << "the children should have made progress";
}

}  // namespace
}  // namespace brook::storage
