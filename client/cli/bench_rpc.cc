// `brook bench rpc`: one record per Produce over plain gRPC, N requests in flight, no client library batching.
// This is the shape every non-C++ client and every NATS publish or etcd Put has, so it is the figure that compares
// with the peers (docs/performance.md). Closed loop by default (a new request as soon as one is answered); with
// --rate, open loop: request i is due at start + i / rate, and its latency runs from when it was due, not from
// when a free slot let it go, so a stalled server shows up in the percentiles (coordinated omission accounted
// for).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/bench_records.h"
#include "client/cli/context.h"
#include "client/lib/admin.h"
#include "client/lib/errors.h"

namespace brook::cli {
namespace {

using client::Clock;

// The calls in flight and what they measured; callbacks run on gRPC's threads.
class Flight {
 public:
  explicit Flight(size_t slots) : free_(slots) {}
  // Blocks until a slot is free or `until` passes; false on timeout.
  bool Acquire(Clock::time_point until) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, until, [&] { return free_ > 0; })) return false;
    --free_;
    return true;
  }
  void Done(double latency_ms, const grpc::Status& s) {
    {
      std::lock_guard lock(mu_);
      ++free_;
      if (s.ok()) {
        latencies_.push_back(latency_ms);
      } else {
        ++errors_;
        if (first_error_.ok()) first_error_ = s;
      }
      last_ = Clock::now();
    }
    cv_.notify_all();
  }
  // Waits until every call is answered (or `until` passes).
  void Drain(size_t slots, Clock::time_point until) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, until, [&] { return free_ == slots; });
  }
  std::vector<double> TakeLatencies() {
    std::lock_guard lock(mu_);
    return std::move(latencies_);
  }
  uint64_t ok() {
    std::lock_guard lock(mu_);
    return latencies_.size();
  }
  uint64_t errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  grpc::Status first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }
  Clock::time_point last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t free_;
  std::vector<double> latencies_;
  uint64_t errors_ = 0;
  grpc::Status first_error_;
  Clock::time_point last_{};
};

// Closed-loop runs with at most this many in flight use one blocking caller thread per call in flight.
constexpr size_t kMaxBlockingCallers = 16;

struct Call {
  grpc::ClientContext context;
  v1::ProduceResponse response;
  Clock::time_point due;
};

// The leader's stubs for topic/partition, creating the topic (one partition) if it does not exist.
absl::StatusOr<client::NodeStubs*> LeaderStubs(Context& ctx, const std::string& topic, uint32_t partition) {
  client::Admin admin(ctx.connection);
  auto existing = admin.DescribeTopic(topic);
  if (!existing.ok() && existing.status().code() == absl::StatusCode::kNotFound) {
    auto created = admin.CreateTopic(topic, partition + 1);
    if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) return created.status();
  } else if (!existing.ok()) {
    return existing.status();
  }
  if (auto ready = admin.WaitForLeaders(topic, ctx.timeout); !ready.ok()) return ready.status();
  // A leader just elected may not be in the metadata the connection cached yet (or its address not known):
  // refresh until it is, within the command's timeout.
  const auto deadline = Clock::now() + ctx.timeout;
  std::string leader = ctx.connection->LeaderAddress(topic, partition);
  while (leader.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (void)ctx.connection->RefreshMetadata({topic}, deadline);
    leader = ctx.connection->LeaderAddress(topic, partition);
  }
  if (leader.empty()) return absl::UnavailableError(absl::StrCat("no leader known for ", topic, "/", partition));
  return ctx.connection->Stubs(leader);
}

// Open loop (rate > 0: request i is due at start + i / rate) or many in flight: callback calls, at most `slots`
// at once. Returns how many were sent; waits until each is answered (every call has a 10 s deadline).
uint64_t SendAsync(client::NodeStubs& node, const v1::ProduceRequest& request, Flight& flight, size_t slots,
                   uint64_t rate, uint64_t cap, Clock::time_point start, Clock::time_point end) {
  uint64_t sent = 0;
  while (sent < cap) {
    Clock::time_point due = Clock::now();
    if (rate > 0) {
      due = start + std::chrono::nanoseconds(static_cast<int64_t>(sent * 1'000'000'000ull / rate));
      if (due >= end) break;
      std::this_thread::sleep_until(due);
    }
    if (due >= end || !flight.Acquire(end)) break;
    auto* call = new Call;
    call->due = due;
    client::SetDeadline(&call->context, Clock::now() + std::chrono::seconds(10));
    node.log->async()->Produce(&call->context, &request, &call->response, [&flight, call](grpc::Status s) {
      flight.Done(std::chrono::duration<double, std::milli>(Clock::now() - call->due).count(), s);
      delete call;
    });
    ++sent;
  }
  flight.Drain(slots, Clock::now() + std::chrono::seconds(15));
  return sent;
}

}  // namespace

int RunBenchRpc(Context& ctx) {
  const std::string topic = ctx.args.Get("topic", "brook-bench-rpc");
  auto partition = ctx.args.GetInt("partition", 0);
  auto size = ctx.args.GetInt("record-size", 1024);
  auto inflight = ctx.args.GetInt("inflight", 256);
  auto seconds = ctx.args.GetInt("seconds", 10);
  auto records = ctx.args.GetInt("records", 0);
  auto rate = ctx.args.GetInt("rate", 0);
  for (const auto* v : {&partition, &size, &inflight, &seconds, &records, &rate}) {
    if (!v->ok()) return UsageError(ctx, std::string(v->status().message()));
  }
  if (*partition < 0 || *size < 0 || *inflight < 1 || *inflight > 100000 || *seconds < 1 || *records < 0 ||
      *rate < 0) {
    return UsageError(ctx,
                      "--inflight wants 1..100000, --seconds a positive integer; --partition, --record-size, "
                      "--records and --rate non-negative integers");
  }
  auto node = LeaderStubs(ctx, topic, static_cast<uint32_t>(*partition));
  if (!node.ok()) return Fail(ctx, node.status());

  v1::ProduceRequest request;
  request.set_topic(topic);
  request.set_partition(static_cast<uint32_t>(*partition));
  request.add_records()->set_value(MakeBenchValues(RecordKind::kRandom, static_cast<size_t>(*size), 1)[0]);

  const size_t slots = static_cast<size_t>(*inflight);
  Flight flight(slots);
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(*seconds);
  const uint64_t cap = *records > 0 ? static_cast<uint64_t>(*records) : UINT64_MAX;
  uint64_t sent = 0;
  if (*rate == 0 && slots <= kMaxBlockingCallers) {
    // A few callers: one thread each, blocking calls (as a Go client's goroutines would), which answers faster
    // than the callback API's executor hand-off at one or two in flight.
    std::atomic<uint64_t> issued{0};
    std::vector<std::thread> callers;
    for (size_t i = 0; i < slots; ++i) {
      callers.emplace_back([&] {
        while (issued.fetch_add(1) < cap && Clock::now() < end) {
          grpc::ClientContext context;
          client::SetDeadline(&context, Clock::now() + std::chrono::seconds(10));
          v1::ProduceResponse response;
          const auto t0 = Clock::now();
          const grpc::Status s = (*node)->log->Produce(&context, request, &response);
          flight.Done(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), s);
        }
      });
    }
    for (auto& t : callers) t.join();
    sent = flight.ok() + flight.errors();
  } else {
    sent = SendAsync(**node, request, flight, slots, static_cast<uint64_t>(*rate), cap, start, end);
  }
  const double secs = std::chrono::duration<double>(std::max(flight.last(), start) - start).count();
  const uint64_t ok = flight.ok();
  const uint64_t errors = flight.errors();
  ReportBench(ctx, "rpc", ok, ok * static_cast<uint64_t>(*size), errors, secs, flight.TakeLatencies(),
              *rate > 0 ? "due-to-answer" : "send-to-answer");
  if (errors > 0) {
    const grpc::Status first = flight.first_error();
    return Fail(ctx, absl::Status(static_cast<absl::StatusCode>(first.error_code()),
                                  absl::StrCat(errors, " of ", sent,
                                               " Produce calls failed; the first: ", first.error_message())));
  }
  return kExitOk;
}

}  // namespace brook::cli
