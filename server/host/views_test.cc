// PartitionView waiters: when they fire (high watermark strictly beyond the offset, or deletion), Cancel, and a
// multithreaded run where every waiter fires exactly once or is cancelled.
#include "server/host/views.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace brook::server {
namespace {

PartitionView MakeView() { return PartitionView(/*group=*/7, "orders", 2, /*topic_id=*/11); }

void PublishHighWatermark(PartitionView& view, uint64_t hwm) {
  view.Publish(/*applied_index=*/hwm + 1, hwm, /*log_start_offset=*/0, /*leader=*/1, /*term=*/1);
}

TEST(PartitionView, PublishExposesTheLatestState) {
  auto view = MakeView();
  view.Publish(/*applied_index=*/9, /*high_watermark=*/40, /*log_start_offset=*/12, /*leader=*/3, /*term=*/5);
  EXPECT_EQ(view.applied_index(), 9u);
  EXPECT_EQ(view.high_watermark(), 40u);
  EXPECT_EQ(view.log_start_offset(), 12u);
  EXPECT_EQ(view.leader(), 3u);
  EXPECT_EQ(view.term(), 5u);
  EXPECT_FALSE(view.deleted());
  EXPECT_EQ(view.group(), 7u);
  EXPECT_EQ(view.topic(), "orders");
  EXPECT_EQ(view.partition(), 2u);
  EXPECT_EQ(view.topic_id(), 11u);
}

TEST(PartitionView, WaitBeyondFiresAtOnceWhenAlreadyBeyond) {
  auto view = MakeView();
  PublishHighWatermark(view, 5);
  int fired = 0;
  uint64_t id = view.WaitBeyond(4, [&] { ++fired; });
  EXPECT_EQ(fired, 1) << "high watermark 5 is beyond offset 4: the callback runs on the caller's thread";
  EXPECT_EQ(id, 0u) << "a waiter that fired at once has no id to cancel";
  EXPECT_FALSE(view.Cancel(id));

  view.WaitBeyond(5, [&] { ++fired; });
  EXPECT_EQ(fired, 1) << "offset 5 is not readable until the high watermark exceeds it";
}

TEST(PartitionView, WaitBeyondFiresOnPublishPastTheOffsetAndNotBefore) {
  auto view = MakeView();
  int fired = 0;
  uint64_t seen_hwm = 0;
  uint64_t id = view.WaitBeyond(10, [&] {
    ++fired;
    seen_hwm = view.high_watermark();
  });
  EXPECT_NE(id, 0u);
  PublishHighWatermark(view, 3);
  PublishHighWatermark(view, 10);
  EXPECT_EQ(fired, 0) << "high watermark 10 does not pass offset 10";
  PublishHighWatermark(view, 11);
  EXPECT_EQ(fired, 1) << "high watermark 11 passes offset 10";
  EXPECT_EQ(seen_hwm, 11u) << "the new high watermark is visible to the callback";
  PublishHighWatermark(view, 20);
  EXPECT_EQ(fired, 1) << "a waiter fires once";
  EXPECT_FALSE(view.Cancel(id)) << "a fired waiter cannot be cancelled";
}

TEST(PartitionView, OnlyWaitersPassedByTheNewHighWatermarkFire) {
  auto view = MakeView();
  std::vector<int> fired(4, 0);
  for (int i = 0; i < 4; ++i) view.WaitBeyond(10 * i, [&fired, i] { ++fired[i]; });
  PublishHighWatermark(view, 15);
  EXPECT_EQ(fired, (std::vector<int>{1, 1, 0, 0})) << "offsets 0 and 10 are passed by 15; 20 and 30 are not";
  PublishHighWatermark(view, 31);
  EXPECT_EQ(fired, (std::vector<int>{1, 1, 1, 1}));
}

TEST(PartitionView, CancelPreventsFiring) {
  auto view = MakeView();
  int fired = 0;
  uint64_t a = view.WaitBeyond(3, [&] { ++fired; });
  uint64_t b = view.WaitBeyond(3, [&] { fired += 100; });
  EXPECT_NE(a, b) << "every waiter gets its own id";
  EXPECT_TRUE(view.Cancel(a));
  EXPECT_FALSE(view.Cancel(a)) << "cancelling twice";
  PublishHighWatermark(view, 10);
  EXPECT_EQ(fired, 100) << "only the waiter that was not cancelled fires";
}

TEST(PartitionView, MarkDeletedFiresEveryWaiterAndLaterWaitersAtOnce) {
  auto view = MakeView();
  int fired = 0;
  for (uint64_t offset : {0, 5, 1'000'000}) view.WaitBeyond(offset, [&] { ++fired; });
  view.MarkDeleted();
  EXPECT_TRUE(view.deleted());
  EXPECT_EQ(fired, 3) << "a deleted partition releases every reader";
  EXPECT_EQ(view.WaitBeyond(7, [&] { ++fired; }), 0u);
  EXPECT_EQ(fired, 4) << "waiting on a deleted partition returns at once";
}

TEST(PartitionView, CallbackMayWaitAgain) {
  // Callbacks run outside the view's lock, so a reader may re-arm from its callback (Subscribe does).
  auto view = MakeView();
  int fired = 0;
  view.WaitBeyond(0, [&] {
    ++fired;
    view.WaitBeyond(5, [&] { ++fired; });
  });
  PublishHighWatermark(view, 1);
  EXPECT_EQ(fired, 1);
  PublishHighWatermark(view, 6);
  EXPECT_EQ(fired, 2);
}

// Several reader threads register waiters at random offsets and cancel some, while the host thread publishes a
// rising high watermark and finally deletes the partition. Every waiter must end up fired exactly once or
// cancelled (never both, never neither), and never fire before the high watermark passes its offset.
TEST(PartitionViewConcurrency, EveryWaiterFiresExactlyOnceOrIsCancelled) {
  constexpr int kReaders = 4;
  constexpr int kWaitersPerReader = 3'000;
  constexpr uint64_t kFinalHighWatermark = 2'000;

  struct Waiter {
    uint64_t offset = 0;
    std::atomic<int> fired{0};
    std::atomic<bool> early{false};
    bool cancelled = false;
  };
  auto view = std::make_shared<PartitionView>(1, "orders", 0, 1);
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < kReaders * kWaitersPerReader; ++i) waiters.push_back(std::make_unique<Waiter>());
  std::atomic<bool> deleted{false};

  absl::Notification finished;
  std::thread watchdog([&] {
    if (!finished.WaitForNotificationWithTimeout(absl::Seconds(20))) {
      std::fprintf(stderr, "PartitionViewConcurrency: no progress in 20 s (deadlock?)\n");
      std::abort();
    }
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r + 1);
      for (int i = 0; i < kWaitersPerReader; ++i) {
        Waiter& w = *waiters[r * kWaitersPerReader + i];
        w.offset = rng() % (kFinalHighWatermark + 50);  // some are never passed: only deletion releases them
        uint64_t id = view->WaitBeyond(w.offset, [&w, &view, &deleted] {
          if (!deleted.load() && view->high_watermark() <= w.offset) w.early = true;
          w.fired.fetch_add(1);
        });
        if (id != 0 && rng() % 3 == 0) w.cancelled = view->Cancel(id);
      }
    });
  }
  std::thread host([&] {
    for (uint64_t hwm = 1; hwm <= kFinalHighWatermark; ++hwm) {
      PublishHighWatermark(*view, hwm);
      if (hwm % 64 == 0) std::this_thread::yield();
    }
  });
  for (auto& t : readers) t.join();
  host.join();
  deleted = true;
  view->MarkDeleted();
  finished.Notify();
  watchdog.join();

  int fired = 0, cancelled = 0;
  for (size_t i = 0; i < waiters.size(); ++i) {
    const Waiter& w = *waiters[i];
    ASSERT_FALSE(w.early) << "waiter " << i << " at offset " << w.offset << " fired before the high watermark";
    ASSERT_EQ(w.fired.load() + (w.cancelled ? 1 : 0), 1)
        << "waiter " << i << " at offset " << w.offset << " fired " << w.fired.load() << " times, "
        << (w.cancelled ? "and was cancelled" : "not cancelled");
    fired += w.fired.load();
    cancelled += w.cancelled;
  }
  EXPECT_GT(fired, 0);
  EXPECT_GT(cancelled, 0) << "the run should exercise Cancel";
}

}  // namespace
}  // namespace brook::server
