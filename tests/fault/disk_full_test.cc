// Disk full, with real brookd processes on a small tmpfs (size-limited; needs root to mount it, skipped
// otherwise): the nodes refuse writes with RESOURCE_EXHAUSTED before the disk is full instead of dying of ENOSPC,
// keep serving reads, keep every acknowledged record, take writes again when space returns, and a node restarted
// on the full disk serves reads. (tmpfs does not sync; this tests space, not durability.)
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

class SmallDisk {
 public:
  explicit SmallDisk(int mb) {
    char tmpl[] = "/tmp/brook-small-disk-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    const std::string options = absl::StrCat("size=", mb, "m,mode=0700");
    mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool mounted() const { return mounted_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

TEST(DiskFull, WritesAreRefusedBeforeTheDiskFillsReadsGoOnAndNothingAcknowledgedIsLost) {
  SmallDisk disk(400);  // an empty 3-node cluster takes about 150 MiB of it (preallocated WAL files)
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  ClusterOptions co;
  co.parent_dir = disk.dir();
  co.extra_flags = {"--disk_reserve_mb=64"};
  auto c = Cluster::Start(co);
  ASSERT_TRUE(c.ok()) << c.status();
  RawClient client((*c)->client_addresses());
  auto created = client.CreateTopic("fill", 1);
  ASSERT_TRUE(created.ok()) << created.error_message();

  // Produce 64 KiB batches until the leader refuses for lack of space. A batch refused as not written because a
  // leader election is running (a stalled leader on a loaded machine) is retried, as its status says.
  std::map<uint64_t, std::string> acked;  // offset -> value
  grpc::Status refusal;
  const std::string filler(16 << 10, 'x');
  int elections = 0;
  for (int i = 0; i < 20'000 && refusal.ok(); ++i) {
    v1::ProduceRequest req;
    req.set_topic("fill");
    for (int r = 0; r < 4; ++r) req.add_records()->set_value(absl::StrCat(i, "-", r, "-", filler));
    v1::ProduceResponse resp;
    grpc::Status s = client.Produce(req, &resp, 10s);
    if (s.ok()) {
      for (int r = 0; r < 4; ++r) acked[resp.base_offset() + r] = req.records(r).value();
      continue;
    }
    auto written = Detail<v1::WriteOutcome>(s);
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && written.has_value() &&
        written->outcome() == v1::WriteOutcome::NOT_WRITTEN && ++elections <= 100) {
      std::this_thread::sleep_for(100ms);
      continue;
    }
    refusal = s;
  }
  ASSERT_EQ(refusal.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refusal.error_message();
  EXPECT_NE(refusal.error_message().find("disk"), std::string::npos) << refusal.error_message();
  auto outcome = Detail<v1::WriteOutcome>(refusal);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->outcome(), v1::WriteOutcome::NOT_WRITTEN);
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_TRUE((*c)->CheckAlive(id).ok()) << "node " << id << " died";

  // Reads go on, on every node: the leader serves every acknowledged record at its offset; a follower (which may
  // have stopped appending below half the reserve) serves a correct prefix.
  const uint64_t end = acked.rbegin()->first + 1;
  auto check_prefix = [&](size_t n, bool whole) {
    auto hwm = client.HighWatermark(n, "fill", 0);
    ASSERT_TRUE(hwm.has_value()) << "node " << n + 1 << " does not serve reads";
    if (whole) {
      ASSERT_GE(*hwm, end) << "node " << n + 1;
    }
    std::vector<v1::StoredRecord> log;
    ASSERT_TRUE(client.ReadAll(n, "fill", 0, 0, std::min(*hwm, end), &log).ok()) << "node " << n + 1;
    ASSERT_EQ(log.size(), std::min(*hwm, end));
    for (const auto& r : log)
      ASSERT_EQ(r.value(), acked.at(r.offset())) << "node " << n + 1 << " offset " << r.offset();
  };
  const size_t leader = static_cast<size_t>(client.LeaderId("fill", 0) - 1);
  for (size_t n = 0; n < 3; ++n) check_prefix(n, n == leader);

  // A node restarted on the full disk serves reads.
  const uint64_t restarted = leader == 1 ? 3 : 2;
  ASSERT_TRUE((*c)->Terminate(restarted, 15s).ok());
  ASSERT_TRUE((*c)->Restart(restarted).ok());
  ASSERT_TRUE((*c)->WaitReady(restarted, 30s).ok()) << (*c)->LogTail(restarted);
  check_prefix(restarted - 1, false);

  // Space returns (the operator grows the filesystem) and writes resume by themselves.
  ASSERT_EQ(mount("tmpfs", disk.dir().c_str(), "tmpfs", MS_REMOUNT, "size=800m"), 0) << std::strerror(errno);
  grpc::Status back = grpc::Status::CANCELLED;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!back.ok() && std::chrono::steady_clock::now() < until) {
    v1::ProduceRequest req;
    req.set_topic("fill");
    req.add_records()->set_value("after");
    v1::ProduceResponse resp;
    back = client.Produce(req, &resp, 5s);
    if (!back.ok()) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(back.ok()) << "writes resume once space returns: " << back.error_message();
  // And every node catches up with every acknowledged record.
  for (size_t n = 0; n < 3; ++n) {
    std::vector<v1::StoredRecord> log;
    ASSERT_TRUE(client.ReadAll(n, "fill", 0, 0, end, &log, 30s).ok()) << "node " << n + 1;
    for (const auto& r : log) ASSERT_EQ(r.value(), acked.at(r.offset())) << "node " << n + 1;
  }
}

}  // namespace
}  // namespace brook::testing
