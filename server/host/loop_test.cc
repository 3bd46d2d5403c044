// The host loop's thread, inbox and stop rules, alone and under a Host racing Stop (run under ThreadSanitizer by
// `make tsan`).
#include "server/host/loop.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/host/host.h"

namespace brook::server {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::vector<bool> ticks;
  int tasks_seen = 0;
  int batches_seen = 0;
  Loop::TurnFn Fn() {
    return [this](std::vector<internal::MessageBatch>& inbox, std::vector<Loop::Task>& tasks, bool tick,
                  Clock::TimePoint) {
      ticks.push_back(tick);
      batches_seen += static_cast<int>(inbox.size());
      tasks_seen += static_cast<int>(tasks.size());
      for (auto& t : tasks) t();
    };
  }
};

TEST(Loop, RunOnceTicksOnlyOnceTheClockPassedATick) {
  ManualClock clock;
  Recorder rec;
  Loop loop(&clock, 50ms, rec.Fn());
  loop.RunOnce();
  clock.Advance(49ms);
  loop.RunOnce();
  clock.Advance(1ms);
  loop.RunOnce();
  loop.RunOnce();
  clock.Advance(500ms);  // far behind: one tick, not ten
  loop.RunOnce();
  loop.RunOnce();
  EXPECT_EQ(rec.ticks, (std::vector<bool>{false, false, true, false, true, false}));
}

TEST(Loop, PostedTasksAndDeliveredBatchesRunInTheNextTurnInArrivalOrder) {
  ManualClock clock;
  Recorder rec;
  Loop loop(&clock, 50ms, rec.Fn());
  std::vector<int> order;
  loop.Post([&] { order.push_back(1); }, [] { FAIL() << "rejected"; });
  loop.Deliver(internal::MessageBatch());
  loop.Post([&] { order.push_back(2); }, [] { FAIL() << "rejected"; });
  EXPECT_TRUE(loop.HasInput());
  EXPECT_TRUE(order.empty()) << "nothing runs before a turn";
  loop.RunOnce();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(rec.batches_seen, 1);
  EXPECT_FALSE(loop.HasInput());
  loop.Wake();
  EXPECT_TRUE(loop.HasInput());
}

TEST(Loop, AfterStopAPostedTaskIsRejectedOnTheCallersThreadAndNeverRuns) {
  ManualClock clock;
  Recorder rec;
  Loop loop(&clock, 50ms, rec.Fn());
  bool queued_ran = false, queued_rejected = false;
  loop.Post([&] { queued_ran = true; }, [&] { queued_rejected = true; });
  EXPECT_TRUE(loop.Stop());
  EXPECT_FALSE(queued_ran) << "a task queued when Stop begins is not run";
  EXPECT_TRUE(queued_rejected);
  bool late_ran = false, late_rejected = false;
  loop.Post([&] { late_ran = true; }, [&] { late_rejected = true; });
  EXPECT_FALSE(late_ran);
  EXPECT_TRUE(late_rejected) << "rejected before Post returns";
  EXPECT_FALSE(loop.RunOnce());
  EXPECT_FALSE(loop.Stop()) << "idempotent";
  EXPECT_EQ(rec.tasks_seen, 0);
}

TEST(Loop, StartedLoopRunsTasksOnItsOwnThreadUntilStopped) {
  Recorder rec;
  Loop loop(SystemClock::Get(), 10ms, rec.Fn());
  loop.Start();
  std::promise<std::thread::id> ran;  // std:: rather than absl:: synchronization: TSan sees it (make tsan)
  auto where = ran.get_future();
  loop.Post([&] { ran.set_value(std::this_thread::get_id()); }, [] {});
  ASSERT_EQ(where.wait_for(10s), std::future_status::ready);
  EXPECT_NE(where.get(), std::this_thread::get_id());
  loop.Stop();
  EXPECT_FALSE(rec.ticks.empty());
}

// A one-node host on its own loop thread, with nobody to talk to.
class NoPeers final : public Network {
 public:
  void Send(uint64_t, internal::MessageBatch) override {}
  std::map<uint64_t, std::string> client_addresses() const override { return {{1, "n1:7101"}}; }
  std::map<uint64_t, std::string> metrics_addresses() const override { return {}; }
  bool refused() const override { return false; }
};

// Client threads keep calling a running host while it stops: every call is answered exactly once, none after
// Stop returned is answered from the groups, and (under ThreadSanitizer) nothing touches loop-owned state from
// another thread.
TEST(HostShutdown, CallsRacingStopAreAnsweredOnceAndNeverTouchTheStoppedGroups) {
  std::string pattern = (std::filesystem::temp_directory_path() / "brook-loop-test-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  storage::Options so;
  so.sync = false;
  auto store = storage::Store::Open(pattern + "/db", so);
  ASSERT_TRUE(store.ok()) << store.status();
  NoPeers network;
  HostOptions options;
  options.node_id = 1;
  options.initial_members = {1};
  options.tick = 10ms;
  auto host = std::make_unique<Host>(options, store->get(), &network);
  ASSERT_TRUE(host->Start().ok());

  std::atomic<bool> stopped{false};
  std::atomic<int> calls{0}, answers{0}, ok_after_stop{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 20000 && !(stopped.load() && i % 100 == 99); ++i) {
        const bool after = stopped.load();
        calls.fetch_add(1);
        v1::FetchOffsetsRequest req;
        req.set_topic("none");
        host->FetchOffsets(req, [&, after](grpc::Status s, v1::FetchOffsetsResponse) {
          answers.fetch_add(1);
          if (after && s.error_code() != grpc::StatusCode::UNAVAILABLE) ok_after_stop.fetch_add(1);
        });
        host->DescribeTopic("none", [&](grpc::Status, v1::Topic) { answers.fetch_add(1); });
        calls.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(50ms);  // let the calls and the loop overlap (not a synchronization)
  host->Stop();
  stopped.store(true);
  for (auto& c : clients) c.join();
  EXPECT_EQ(answers.load(), calls.load()) << "every call answered exactly once";
  EXPECT_EQ(ok_after_stop.load(), 0) << "a call made after Stop was answered from the stopped groups";
  host.reset();
  store->reset();
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace brook::server
