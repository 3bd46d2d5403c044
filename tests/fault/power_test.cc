// The power-failure layer: sync_tracker.cc records what a process made durable; CutPower drops the rest.
#include "tests/fault/power.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

#ifndef BROOK_SYNC_TRACKER_PATH
#define BROOK_SYNC_TRACKER_PATH ""
#endif

namespace brook::testing {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/brook-power-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

// Runs a Python program under the tracker (Python's os.fsync, os.rename and os.unlink call libc's), which ends by
// SIGKILLing itself.
void RunTracked(const std::string& program, const std::string& log) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string preload = absl::StrCat("LD_PRELOAD=", BROOK_SYNC_TRACKER_PATH);
    std::string sync_log = absl::StrCat("BROOK_SYNC_LOG=", log);
    char* envp[] = {preload.data(), sync_log.data(), nullptr};
    execle("/usr/bin/python3", "python3", "-c", program.c_str(), static_cast<char*>(nullptr), envp);
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

// A node's preload must not be lost to one the tests run under (getenv takes the first LD_PRELOAD): the sync
// tracker would silently not load, and the power fault would cut nothing.
TEST(MergeEnvironment, JoinsPreloadListsAndReplacesOtherNames) {
  std::vector<std::string> env = {"PATH=/usr/bin", "LD_PRELOAD=/lib/alloc.so", "LD_PRELOADX=keep"};
  MergeEnvironment(env, "LD_PRELOAD=/lib/tracker.so");
  MergeEnvironment(env, "PATH=/bin");
  MergeEnvironment(env, "BROOK_SYNC_LOG=/tmp/log");
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/bin", "LD_PRELOAD=/lib/tracker.so:/lib/alloc.so",
                                           "LD_PRELOADX=keep", "BROOK_SYNC_LOG=/tmp/log"}));
  std::vector<std::string> empty_preload = {"LD_PRELOAD="};
  MergeEnvironment(empty_preload, "LD_PRELOAD=/lib/tracker.so");
  EXPECT_EQ(empty_preload, (std::vector<std::string>{"LD_PRELOAD=/lib/tracker.so"}));
}

TEST(PowerCut, KeepsExactlyWhatWasSynced) {
  TempDir dir;
  const std::string d = dir.path + "/data";
  fs::create_directories(d);
  const std::string program = absl::StrCat(R"(
import os, signal
d = ')",
                                           d, R"('
def write(name, data, sync):
    fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, data)
    if sync: os.fsync(fd)
    os.close(fd)
write('a', b'x' * 100, True)
write('a', b'y' * 50, False)        # a: 100 durable, 50 not
write('b', b'z' * 30, False)        # b: never synced
write('c.tmp', b'c' * 20, True)
os.rename(os.path.join(d, 'c.tmp'), os.path.join(d, 'c'))   # c: 20 durable, under its new name
write('e', b'e' * 40, True)
os.unlink(os.path.join(d, 'e'))
write('e', b'f' * 10, False)        # e: a new file, never synced
os.makedirs(os.path.join(d, 'sub'))
write('sub/g', b'g' * 7, True)
write('sub/g', b'h' * 9, False)     # sub/g: 7 durable
os.kill(os.getpid(), signal.SIGKILL)
)");
  RunTracked(program, dir.path + "/sync.log");
  EXPECT_EQ(fs::file_size(d + "/a"), 150u);
  std::mt19937_64 rng(1);
  auto cut = CutPower(dir.path + "/sync.log", d, /*torn=*/false, rng);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(fs::file_size(d + "/a"), 100u);
  EXPECT_EQ(fs::file_size(d + "/b"), 0u);
  EXPECT_EQ(fs::file_size(d + "/c"), 20u);
  EXPECT_EQ(fs::file_size(d + "/e"), 0u);
  EXPECT_EQ(fs::file_size(d + "/sub/g"), 7u);
  EXPECT_EQ(cut->files_cut, 4);
  EXPECT_EQ(cut->bytes_dropped, 50u + 30u + 10u + 9u);
  std::ifstream in(d + "/a");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, std::string(100, 'x'));
}

TEST(PowerCut, TornTailsKeepAPrefixOfTheUnsyncedBytes) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    TempDir dir;
    const std::string d = dir.path + "/data";
    fs::create_directories(d);
    RunTracked(absl::StrCat("import os, signal\nfd = os.open('", d, "/w', os.O_WRONLY | os.O_CREAT)\n",
                            "os.write(fd, b'a' * 1000); os.fsync(fd); os.write(fd, b'b' * 1000)\n",
                            "os.kill(os.getpid(), signal.SIGKILL)\n"),
               dir.path + "/sync.log");
    std::mt19937_64 rng(seed);
    ASSERT_TRUE(CutPower(dir.path + "/sync.log", d, /*torn=*/true, rng).ok());
    auto size = fs::file_size(d + "/w");
    EXPECT_GE(size, 1000u);
    EXPECT_LE(size, 2000u);
  }
}

// The layer under a real brookd: acknowledged records survive a power failure of the only replica (brookd syncs
// before it acknowledges) and are lost when brookd is built to skip the sync: proof the fault drops data for real.
std::pair<int64_t, int64_t> ProduceCutAndCount(const std::string& unsafe_break) {
  TempDir dir;
  ClusterOptions o;
  o.nodes = 1;
  o.extra_flags = {absl::StrCat("--unsafe_break=", unsafe_break)};
  const std::string log = dir.path + "/node1.synclog";
  o.environment = [&](uint64_t) {
    return std::vector<std::string>{absl::StrCat("LD_PRELOAD=", BROOK_SYNC_TRACKER_PATH),
                                    absl::StrCat("BROOK_SYNC_LOG=", log)};
  };
  auto cluster = Cluster::Start(o);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  if (!cluster.ok()) return {-1, -1};
  auto& c = **cluster;
  RawClient client(c.client_addresses());
  EXPECT_TRUE(client.CreateTopic("t", 1, 1).ok());
  int64_t acked = 0;
  for (int i = 0; i < 200; ++i) {
    v1::ProduceRequest req;
    req.set_topic("t");
    req.set_partition(0);
    req.add_records()->set_value(absl::StrCat("r", i));
    v1::ProduceResponse resp;
    if (client.Produce(req, &resp).ok()) ++acked;
  }
  EXPECT_TRUE(c.Kill(1).ok());
  std::mt19937_64 rng(7);
  auto cut = CutPower(log, c.node(1).data_dir, /*torn=*/false, rng);
  EXPECT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE(c.Restart(1).ok());
  EXPECT_TRUE(c.WaitReady(1, std::chrono::seconds(30)).ok()) << c.LogTail(1);
  // A replica serves what it has applied. After the restart that is what its lazily persisted commit index covered
  // until the node, leader again, commits an entry of its new term: the high watermark may show one batch fewer
  // for a few milliseconds. So wait (bounded) for it to reach what was acknowledged; the broken build never does.
  std::optional<uint64_t> hw;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (std::chrono::steady_clock::now() < deadline) {
    hw = client.HighWatermark(0, "t", 0);
    if (hw && *hw >= static_cast<uint64_t>(acked)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!hw) return {acked, -1};
  // Count the records that survived as acknowledged: value r<i> at offset i, from offset 0 on.
  std::vector<v1::StoredRecord> records;
  auto read = client.ReadAll(0, "t", 0, 0, *hw, &records);
  EXPECT_TRUE(read.ok()) << read.error_message();
  int64_t survived = 0;
  while (survived < static_cast<int64_t>(records.size()) &&
         records[survived].offset() == static_cast<uint64_t>(survived) &&
         records[survived].value() == absl::StrCat("r", survived)) {
    ++survived;
  }
  return {acked, survived};
}

TEST(PowerCut, BrookdKeepsEveryAcknowledgedRecord) {
  auto [acked, survived] = ProduceCutAndCount("none");
  EXPECT_EQ(acked, 200);
  EXPECT_EQ(survived, 200);
}

TEST(PowerCut, BrookdThatSkipsTheSyncLosesAcknowledgedRecords) {
  auto [acked, survived] = ProduceCutAndCount("skip_sync");
  EXPECT_EQ(acked, 200);
  EXPECT_LT(survived, 200);  // -1: even the topic is gone
}

}  // namespace
}  // namespace brook::testing
