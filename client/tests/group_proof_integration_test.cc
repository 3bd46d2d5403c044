// The consumer-group proof (issue 18) on a live 3-node cluster with real member processes (group_member.cc):
// producers write a 12-partition topic while members join, leave gracefully, are killed with SIGKILL, pause past
// their session, and the coordinator's node is killed during a rebalance. A checker over every member's history
// and the coordinator's own view then proves:
//   - every acknowledged record was processed at least once, and no offset below the end was skipped;
//   - no partition had two owners at once: the coordinator never listed one partition under two members, and no
//     member processed a partition after another member had processed it, unless it was given it again;
//   - while nobody crashed (joins and graceful leaves only, commits after processing), no record was processed
//     twice.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/lib/group_admin.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"

extern char** environ;

namespace brook::client::testing {
namespace {

using namespace std::chrono_literals;
constexpr char kTopic[] = "proof";
constexpr char kGroup[] = "proof-group";
constexpr uint32_t kPartitions = 12;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct MemberProcess {
  int index = 0;
  pid_t pid = -1;
  std::string out;
  int64_t killed_ms = 0;  // when SIGKILLed (its ownership ends there)
};

struct Processing {
  int64_t t = 0;
  int member = 0;
  bool assigned = false;  // an assignment event rather than a record
  uint64_t offset = 0;
};

class GroupProofTest : public LiveCluster {
 protected:
  void TearDown() override {
    for (auto& m : members_) {
      if (m.pid > 0) {
        kill(m.pid, SIGKILL);
        waitpid(m.pid, nullptr, 0);
      }
    }
    LiveCluster::TearDown();
  }

  MemberProcess& StartMember() {
    MemberProcess m;
    m.index = static_cast<int>(members_.size());
    m.out = absl::StrCat(::testing::TempDir(), "/member-", m.index, "-", getpid(), ".log");
    std::remove(m.out.c_str());
    std::vector<std::string> args = {BROOK_GROUP_MEMBER_PATH,
                                     "--bootstrap=" + cluster_->bootstrap(),
                                     std::string("--group=") + kGroup,
                                     std::string("--topic=") + kTopic,
                                     "--session_ms=3000",
                                     "--out=" + m.out};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&m.pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    members_.push_back(m);
    return members_.back();
  }

  void Stop(MemberProcess& m) {
    kill(m.pid, SIGTERM);
    int status = 0;
    waitpid(m.pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "member " << m.index << " status " << status;
    m.pid = -1;
  }

  void Kill(MemberProcess& m) {
    m.killed_ms = WallMs();
    kill(m.pid, SIGKILL);
    waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }

  // The coordinator's view, read every 50 ms by a monitor thread: no partition under two members at once.
  void Monitor() {
    GroupAdmin admin(connection_);
    while (!stop_monitor_.load()) {
      v1::DescribeGroupRequest req;
      req.set_group(kGroup);
      auto d = admin.Describe(req);
      if (d.ok()) {
        std::map<uint32_t, std::string> owner;
        for (const auto& m : d->members()) {
          for (const auto* set : {&m.assignment(), &m.revoking()}) {
            for (const auto& tp : *set) {
              for (uint32_t p : tp.partitions()) {
                auto [it, fresh] = owner.emplace(p, m.member_id());
                if (!fresh) {
                  ++coordinator_violations_;
                  ADD_FAILURE() << "the coordinator lists partition " << p << " under " << it->second << " and "
                                << m.member_id();
                }
              }
            }
          }
        }
        ++coordinator_views_;
      }
      std::this_thread::sleep_for(50ms);
    }
  }

  // Waits until the coordinator's group has `members` members and is STABLE.
  bool WaitStable(int members, std::chrono::milliseconds timeout) {
    GroupAdmin admin(connection_);
    return WaitFor(
        [&] {
          v1::DescribeGroupRequest req;
          req.set_group(kGroup);
          auto d = admin.Describe(req);
          return d.ok() && d->members_size() == members && d->state() == v1::DescribeGroupResponse::STABLE;
        },
        timeout);
  }

  std::vector<MemberProcess> members_;
  std::atomic<bool> stop_monitor_{false};
  std::atomic<int> coordinator_violations_{0};
  std::atomic<int> coordinator_views_{0};
};

TEST_F(GroupProofTest, EveryRecordIsProcessedAndNoPartitionHasTwoOwnersThroughCrashesAndPauses) {
  CreateTopic(kTopic, kPartitions);
  // Producers: acknowledged (partition, offset) pairs.
  std::mutex acked_mu;
  std::set<std::pair<uint32_t, uint64_t>> acked;
  std::atomic<bool> stop_producing{false};
  std::thread producer([&] {
    auto p = Producer::Create(connection_);
    ASSERT_TRUE(p.ok());
    for (int i = 0; !stop_producing.load() && i < 1'000'000; ++i) {
      v1::Record r;
      r.set_key(absl::StrCat("k", i));
      r.set_value(absl::StrCat("v", i));
      auto ack = (*p)->Send(kTopic, std::move(r)).get();
      if (ack.ok()) {
        std::lock_guard<std::mutex> lock(acked_mu);
        acked.insert({ack->partition, ack->offset});
      }
      if (i % 20 == 0) std::this_thread::sleep_for(5ms);
    }
  });
  std::thread monitor([&] { Monitor(); });

  // Phase A, nobody crashes: four members, two more join, one leaves gracefully.
  for (int i = 0; i < 4; ++i) StartMember();
  ASSERT_TRUE(WaitStable(4, 60s));
  StartMember();
  StartMember();
  ASSERT_TRUE(WaitStable(6, 60s));
  Stop(members_[1]);
  ASSERT_TRUE(WaitStable(5, 60s));
  std::this_thread::sleep_for(1s);
  const int64_t crashes_begin = WallMs();

  // Phase B: a SIGKILL, a pause past the session timeout, and the coordinator's node killed mid-rebalance.
  Kill(members_[2]);
  ASSERT_TRUE(WaitStable(4, 60s)) << "the killed member's partitions were not reassigned";
  ASSERT_EQ(kill(members_[3].pid, SIGSTOP), 0);
  std::this_thread::sleep_for(5s);  // session 3 s: removed meanwhile
  ASSERT_EQ(kill(members_[3].pid, SIGCONT), 0);
  ASSERT_TRUE(WaitStable(4, 60s));
  GroupAdmin admin(connection_);
  v1::DescribeGroupRequest req;
  req.set_group(kGroup);
  auto d = admin.Describe(req);
  ASSERT_TRUE(d.ok());
  const uint64_t coordinator = d->coordinator_node();
  StartMember();  // a rebalance begins...
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(cluster_->Kill(coordinator).ok());  // ...and its coordinator dies
  ASSERT_TRUE(WaitStable(5, 90s)) << "the group did not settle on a new coordinator";
  ASSERT_TRUE(cluster_->Restart(coordinator).ok());

  std::this_thread::sleep_for(2s);
  stop_producing.store(true);
  producer.join();
  // Every member reads to the end: wait until the group's lag is 0.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto g = admin.DescribeGroup(kGroup);
        if (!g.ok() || g->group.members_size() != 5) return false;
        for (const auto& p : g->partitions) {
          if (!p.known || !p.committed || p.lag != 0) return false;
        }
        return true;
      },
      90s));
  std::map<uint32_t, uint64_t> end;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = admin.ListOffsets(kTopic, p, v1::ListOffsetsRequest::LATEST);
    ASSERT_TRUE(o.ok());
    end[p] = o->high_watermark();
  }
  for (auto& m : members_) {
    if (m.pid > 0) Stop(m);
  }
  stop_monitor_.store(true);
  monitor.join();

  // The checker.
  std::map<uint32_t, std::vector<Processing>> history;                      // per partition, in time order
  std::map<std::pair<uint32_t, uint64_t>, std::vector<int64_t>> processed;  // times each record was processed
  for (const auto& m : members_) {
    std::ifstream in(m.out);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      ASSERT_GE(f.size(), 2u) << line;
      int64_t t = 0;
      ASSERT_TRUE(absl::SimpleAtoi(f[1], &t)) << line;
      if (f[0] == "R") {
        uint32_t p = 0;
        uint64_t o = 0;
        ASSERT_TRUE(f.size() == 4 && absl::SimpleAtoi(f[2], &p) && absl::SimpleAtoi(f[3], &o)) << line;
        history[p].push_back({t, m.index, false, o});
        processed[{p, o}].push_back(t);
      } else if (f[0] == "A" && f.size() == 3) {
        for (absl::string_view s : absl::StrSplit(f[2], ',', absl::SkipEmpty())) {
          uint32_t p = 0;
          ASSERT_TRUE(absl::SimpleAtoi(s, &p));
          history[p].push_back({t, m.index, true, 0});
        }
      }
    }
  }
  // At least once, nothing skipped: every offset below the end was processed, and every acknowledged one.
  for (const auto& a : acked)
    EXPECT_TRUE(processed.contains(a)) << a.first << "/" << a.second << " never processed";
  for (const auto& [p, e] : end) {
    for (uint64_t o = 0; o < e; ++o) ASSERT_TRUE(processed.contains({p, o})) << p << "/" << o << " skipped";
  }
  // No record processed twice while nobody crashed.
  size_t duplicates = 0;
  for (auto& [at, times] : processed) {
    if (times.size() < 2) continue;
    ++duplicates;
    std::sort(times.begin(), times.end());
    EXPECT_GE(times[1], crashes_begin) << at.first << "/" << at.second << " processed twice before any crash";
  }
  // No interleaving: once member Y processed a partition after X, X processes it again only after it was given it
  // again.
  for (auto& [p, events] : history) {
    std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
    std::map<int, int64_t> handed_over;  // member -> when another member processed after it
    int last = -1;
    std::map<int, int64_t> assigned_at;
    for (const auto& e : events) {
      if (e.assigned) {
        assigned_at[e.member] = e.t;
        continue;
      }
      if (last != -1 && last != e.member) handed_over[last] = e.t;
      auto h = handed_over.find(e.member);
      if (h != handed_over.end()) {
        EXPECT_GT(assigned_at[e.member], h->second)
            << "member " << e.member << " processed " << p << "/" << e.offset << " after another member took it";
        handed_over.erase(h);
      }
      last = e.member;
    }
  }
  EXPECT_EQ(coordinator_violations_.load(), 0);
  std::cout << "proof: " << processed.size() << " records processed, " << acked.size() << " acknowledged, "
            << duplicates << " processed twice (all after a crash), " << coordinator_views_.load()
            << " coordinator views checked\n";
}

// What one member's log says: the partitions it holds at the end, when it last processed each partition, and when
// it was last given partitions.
struct MemberView {
  std::set<uint32_t> held;
  std::map<uint32_t, int64_t> last_read;
  int64_t last_assigned = 0;
};

MemberView ReadView(const std::string& path) {
  MemberView v;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    int64_t t = 0;
    if (f.size() < 2 || !absl::SimpleAtoi(f[1], &t)) continue;
    uint32_t p = 0;
    if (f[0] == "R" && f.size() == 4 && absl::SimpleAtoi(f[2], &p)) v.last_read[p] = t;
    if ((f[0] == "A" || f[0] == "V" || f[0] == "L") && f.size() == 3) {
      for (absl::string_view s : absl::StrSplit(f[2], ',', absl::SkipEmpty())) {
        if (!absl::SimpleAtoi(s, &p)) continue;
        if (f[0] == "A")
          v.held.insert(p);
        else
          v.held.erase(p);
      }
      if (f[0] == "A") v.last_assigned = t;
    }
  }
  return v;
}

double Rank(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// A measurement, not a check (run by hand: --gtest_also_run_disabled_tests): time from a member's SIGKILL until
// every partition it held is read again by another member (session timeout 3 s), and from a new member's start
// until it is given partitions; 20 of each, p50 and p99 printed.
TEST_F(GroupProofTest, DISABLED_MeasureCrashToReadAgainAndJoinToAssigned) {
  CreateTopic(kTopic, kPartitions);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    auto p = Producer::Create(connection_);
    ASSERT_TRUE(p.ok());
    for (int i = 0; !stop.load() && i < 10'000'000; ++i) {
      v1::Record r;
      r.set_key(absl::StrCat("k", i));
      (void)(*p)->Send(kTopic, std::move(r));
      if (i % 10 == 0) std::this_thread::sleep_for(10ms);
    }
  });
  for (int i = 0; i < 3; ++i) StartMember();
  ASSERT_TRUE(WaitStable(3, 60s));
  std::vector<double> crash_ms, join_ms;
  for (int round = 0; round < 20; ++round) {
    MemberProcess* victim = nullptr;
    for (auto& m : members_) {
      if (m.pid > 0 && !ReadView(m.out).held.empty()) victim = &m;
    }
    ASSERT_NE(victim, nullptr);
    const std::set<uint32_t> lost = ReadView(victim->out).held;
    Kill(*victim);
    const int64_t t0 = victim->killed_ms;
    int64_t done = 0;
    ASSERT_TRUE(WaitFor(
        [&] {
          std::map<uint32_t, int64_t> first;  // partition -> a read after the kill
          for (const auto& m : members_) {
            if (m.pid <= 0) continue;
            for (const auto& [p, t] : ReadView(m.out).last_read) {
              if (lost.contains(p) && t > t0) first[p] = std::max(first[p], t);
            }
          }
          if (first.size() < lost.size()) return false;
          done = 0;
          for (const auto& [p, t] : first) done = std::max(done, t);
          return true;
        },
        60s));
    crash_ms.push_back(static_cast<double>(done - t0));
    const int64_t t1 = WallMs();
    MemberProcess& joined = StartMember();
    const std::string out = joined.out;
    ASSERT_TRUE(WaitFor([&] { return ReadView(out).last_assigned > 0; }, 60s));
    join_ms.push_back(static_cast<double>(ReadView(out).last_assigned - t1));
    ASSERT_TRUE(WaitStable(3, 60s));
  }
  stop.store(true);
  producer.join();
  std::cout << "crash -> partitions read again (session 3000 ms), 20 crashes: p50 " << Rank(crash_ms, 0.5)
            << " ms, p99 " << Rank(crash_ms, 0.99) << " ms, max " << Rank(crash_ms, 1.0) << " ms\n"
            << "new member -> partitions assigned, 20 joins: p50 " << Rank(join_ms, 0.5) << " ms, p99 "
            << Rank(join_ms, 0.99) << " ms (includes process start)\n";
}

}  // namespace
}  // namespace brook::client::testing
