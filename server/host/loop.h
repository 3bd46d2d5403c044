// The host loop's thread and inbox (docs/decisions.md D2): one thread per node drives every Raft group. Other
// threads hand it work only through Post (tasks) and Deliver (Raft message batches from peers); the loop takes
// everything that arrived, and once per turn calls the host's turn function with it and with whether a tick is
// due. What a turn does (group commit, apply, answer) is the host's business (server/host/host.h).
//
// Stopping is safe against late work: once Stop begins, a posted task never runs; its `reject` half runs instead,
// on the posting thread or on the one calling Stop, and must not touch loop-owned state.
//
// Test seam: a loop that is never started runs turns on the caller's thread with RunOnce, so host tests are
// single-threaded and deterministic (with a ManualClock).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "brook/internal/transport.pb.h"
#include "server/host/clock.h"

namespace brook::server {

class Loop {
 public:
  using Task = std::function<void()>;
  // Called once per turn on the loop thread: the message batches and tasks that arrived since the last turn (in
  // arrival order), whether a tick is due, and the clock's time at the start of the turn.
  using TurnFn = std::function<void(std::vector<internal::MessageBatch>& inbox, std::vector<Task>& tasks,
                                    bool tick, Clock::TimePoint now)>;

  Loop(Clock* clock, std::chrono::milliseconds tick, TurnFn turn);
  ~Loop();  // Stop()

  // Starts the loop thread. Call at most once, or never (tests drive RunOnce instead).
  void Start();
  // Ends the loop after its current turn and joins the thread; rejects every task still queued. Idempotent.
  // Returns false if the loop had already been stopped.
  bool Stop();
  bool stopping() const;

  // ---- Any thread -------------------------------------------------------------------------------------------
  // Queues `run` for the next turn. If the loop is stopping or stopped, runs `reject` now instead (on this
  // thread); a queued task that the loop does not take before it stops gets `reject` too (on Stop's thread).
  void Post(Task run, Task reject);
  // Queues a peer's batch for the next turn; dropped once stopping. A batch that is only a liveness beat does
  // not wake the loop: it waits for the next turn (at the latest, the next tick's).
  void Deliver(internal::MessageBatch&& batch);
  // Asks for another turn soon even if nothing arrives (a group still has ready work).
  void Wake();

  // ---- Tests (a loop never started) -------------------------------------------------------------------------
  // Runs one turn on the caller's thread with whatever is queued. Returns false if the loop is stopped.
  bool RunOnce();
  // Whether a turn would have input (tasks, batches or a wake request), ignoring ticks.
  bool HasInput() const;

 private:
  struct Posted {
    Task run;
    Task reject;
  };
  void Run();
  // Takes the queued input (under mu_) and runs one turn with it.
  void TakeAndTurn(std::unique_lock<std::mutex>& lock);

  Clock* const clock_;
  const std::chrono::milliseconds tick_;
  const TurnFn turn_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                      // guarded by mu_
  bool stopped_ = false;                       // guarded by mu_: Stop has finished
  bool wake_ = false;                          // guarded by mu_
  std::vector<internal::MessageBatch> inbox_;  // guarded by mu_
  std::vector<Posted> tasks_;                  // guarded by mu_

  // Loop thread only (or the RunOnce caller).
  Clock::TimePoint next_tick_;
};

}  // namespace brook::server
