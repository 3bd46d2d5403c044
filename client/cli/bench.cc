// `brook bench produce|consume`: the throughput and latency tool (in the spirit of kafka-producer-perf-test).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/cli/bench_records.h"
#include "client/cli/context.h"
#include "client/cli/output.h"
#include "client/lib/admin.h"
#include "client/lib/compression.h"
#include "client/lib/consumer.h"
#include "client/lib/producer.h"

namespace brook::cli {
namespace {

using client::Clock;

// Distinct record values a produce benchmark cycles through: more than the 10,000 records a batch may hold.
constexpr size_t kBenchValues = 16384;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Prints a progress line to stderr every second until stopped. The callback returns the line.
class Progress {
 public:
  template <typename F>
  Progress(std::ostream& err, F line)
      : thread_([this, &err, line] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
            err << line() << std::endl;
          }
        }) {}
  ~Progress() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// What a produce benchmark's compression achieved (producer.h ProducerStats).
struct CompressionFigures {
  std::string codec;            // "none", "lz4", "zstd"
  uint64_t uncompressed_bytes;  // the batches' records, serialized
  uint64_t sent_bytes;          // what went on the wire for them
  double ratio() const { return sent_bytes > 0 ? static_cast<double>(uncompressed_bytes) / sent_bytes : 0; }
};

void Report(Context& ctx, const std::string& kind, uint64_t records, uint64_t bytes, uint64_t errors, double secs,
            std::vector<double> latencies_ms, const std::string& latency_of,
            const std::optional<CompressionFigures>& compression) {
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const double rps = secs > 0 ? static_cast<double>(records) / secs : 0;
  const double mbps = secs > 0 ? static_cast<double>(bytes) / secs / 1e6 : 0;
  const double p50 = Percentile(latencies_ms, 0.50), p99 = Percentile(latencies_ms, 0.99),
               p999 = Percentile(latencies_ms, 0.999), max = latencies_ms.empty() ? 0 : latencies_ms.back();
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("bench").String(kind).Key("records").Uint(records).Key("bytes").Uint(bytes);
    w.Key("errors").Uint(errors).Key("seconds").Double(secs).Key("records_per_second").Double(rps);
    w.Key("mb_per_second").Double(mbps).Key("latency_of").String(latency_of);
    w.Key("latency_ms").BeginObject().Key("p50").Double(p50).Key("p99").Double(p99).Key("p999").Double(p999);
    w.Key("max").Double(max).EndObject();
    if (compression) {
      w.Key("compression")
          .String(compression->codec)
          .Key("uncompressed_bytes")
          .Uint(compression->uncompressed_bytes);
      w.Key("sent_bytes").Uint(compression->sent_bytes).Key("compression_ratio").Double(compression->ratio());
    }
    ctx.io.out << w.EndObject().str() << '\n';
    return;
  }
  ctx.io.out << absl::StrFormat(
      "%s: %d records in %.2f s: %.0f records/s, %.2f MB/s; %s latency ms p50 %.3f p99 %.3f p999 %.3f max %.3f; "
      "%d errors",
      kind, records, secs, rps, mbps, latency_of, p50, p99, p999, max, errors);
  if (compression) {
    ctx.io.out << absl::StrFormat("; compression %s ratio %.2f (%.2f MB of records sent as %.2f MB)",
                                  compression->codec, compression->ratio(), compression->uncompressed_bytes / 1e6,
                                  compression->sent_bytes / 1e6);
  }
  ctx.io.out << '\n';
}

}  // namespace

void ReportBench(Context& ctx, const std::string& kind, uint64_t records, uint64_t bytes, uint64_t errors,
                 double secs, std::vector<double> latencies_ms, const std::string& latency_of) {
  Report(ctx, kind, records, bytes, errors, secs, std::move(latencies_ms), latency_of, std::nullopt);
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

int RunBenchProduce(Context& ctx) {
  const std::string topic = ctx.args.Get("topic", "brook-bench");
  auto records = ctx.args.GetInt("records", 100000);
  auto size = ctx.args.GetInt("record-size", 1024);
  auto partitions = ctx.args.GetInt("partitions", 3);
  auto inflight = ctx.args.GetInt("inflight", 5);
  auto batch_bytes = ctx.args.GetInt("batch-bytes", 512 * 1024);
  auto linger = ctx.args.GetInt("linger-ms", 2);
  auto rate = ctx.args.GetInt("rate", 0);
  auto keys = ctx.args.GetInt("keys", 0);
  for (const auto* v : {&records, &size, &partitions, &inflight, &batch_bytes, &linger, &rate, &keys}) {
    if (!v->ok()) return UsageError(ctx, std::string(v->status().message()));
  }
  if (*records < 1 || *size < 0 || *partitions < 1 || *inflight < 1 || *batch_bytes < 1 || *linger < 0 ||
      *rate < 0 || *keys < 0) {
    return UsageError(ctx, "--records, --partitions, --inflight and --batch-bytes must be positive");
  }
  auto compression = client::ParseCompression(ctx.args.Get("compression", "none"));
  if (!compression.ok()) return UsageError(ctx, std::string(compression.status().message()));
  auto kind = ParseRecordKind(ctx.args.Get("record-kind", "random"));
  if (!kind.ok()) return UsageError(ctx, std::string(kind.status().message()));

  client::Admin admin(ctx.connection);
  auto existing = admin.DescribeTopic(topic);
  if (!existing.ok() && existing.status().code() == absl::StatusCode::kNotFound) {
    auto created = admin.CreateTopic(topic, static_cast<uint32_t>(*partitions));
    if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) {
      return Fail(ctx, created.status());
    }
  } else if (!existing.ok()) {
    return Fail(ctx, existing.status());
  }
  if (auto ready = admin.WaitForLeaders(topic, ctx.timeout); !ready.ok()) return Fail(ctx, ready.status());

  client::ProducerOptions options;
  options.max_in_flight_per_partition = static_cast<int>(*inflight);
  options.batch.max_batch_bytes = static_cast<size_t>(*batch_bytes);
  options.batch.linger = std::chrono::milliseconds(*linger);
  options.delivery_timeout = std::max(ctx.timeout, std::chrono::milliseconds(30000));
  options.compression = *compression;
  auto producer = client::Producer::Create(ctx.connection, options);
  if (!producer.ok()) return Fail(ctx, producer.status());

  const size_t n = static_cast<size_t>(*records);
  std::vector<double> latency_ms(n, 0);  // written by the producer's I/O thread, read after Close
  std::atomic<uint64_t> acked{0}, errors{0}, sent{0};
  absl::Mutex error_mu;
  absl::Status first_error;
  // Made before the clock starts: distinct values, more than any batch holds (bench_records.h).
  const std::vector<std::string> values =
      MakeBenchValues(*kind, static_cast<size_t>(*size), std::min<size_t>(n, kBenchValues));
  const auto start = Clock::now();
  Progress progress(ctx.io.err, [&] {
    const double secs = Seconds(Clock::now() - start);
    return absl::StrFormat("bench produce: %d sent, %d acked, %d errors, %.0f acked records/s", sent.load(),
                           acked.load(), errors.load(), secs > 0 ? static_cast<double>(acked.load()) / secs : 0);
  });
  for (size_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (*rate > 0) {
      // Open-loop pacing: record i is due at start + i / rate, and its latency runs from then, not from when Send
      // returned: time spent waiting for room in a full buffer counts (coordinated omission accounted for).
      t0 = start + std::chrono::nanoseconds(static_cast<int64_t>(i) * 1000000000 / *rate);
      std::this_thread::sleep_until(t0);
    }
    v1::Record r;
    r.set_value(values[i % values.size()]);
    if (*keys > 0) r.set_key(absl::StrCat("key-", i % static_cast<size_t>(*keys)));  // updates of few keys
    (*producer)->Send(topic, std::move(r), [&, i, t0](absl::StatusOr<client::RecordMetadata> m) {
      latency_ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (m.ok()) {
        acked.fetch_add(1, std::memory_order_relaxed);
      } else {
        errors.fetch_add(1, std::memory_order_relaxed);
        absl::MutexLock lock(&error_mu);
        if (first_error.ok()) first_error = m.status();
      }
    });
    sent.fetch_add(1, std::memory_order_relaxed);
  }
  (*producer)->Close();
  const double secs = Seconds(Clock::now() - start);
  progress.Stop();
  const client::ProducerStats stats = (*producer)->stats();
  Report(ctx, "produce", acked.load(), acked.load() * static_cast<uint64_t>(*size), errors.load(), secs,
         std::move(latency_ms), *rate > 0 ? "due-to-ack" : "send-to-ack",
         CompressionFigures{client::CompressionName(*compression), stats.uncompressed_bytes, stats.sent_bytes});
  if (errors.load() > 0) return Fail(ctx, first_error);
  return kExitOk;
}

int RunBenchConsume(Context& ctx) {
  const std::string topic = ctx.args.Get("topic", "brook-bench");
  auto records = ctx.args.GetInt("records", 0);
  auto fetch_records = ctx.args.GetInt("fetch-records", 10000);
  if (!records.ok() || !fetch_records.ok() || *records < 0 || *fetch_records < 0) {
    return UsageError(ctx, "--records and --fetch-records want non-negative integers");
  }
  client::ConsumerOptions options;
  options.max_records_per_fetch = static_cast<uint32_t>(*fetch_records);
  options.max_bytes_per_fetch = 16 * 1024 * 1024;
  auto consumer = client::Consumer::Create(ctx.connection, options);
  if (!consumer.ok()) return Fail(ctx, consumer.status());
  client::Consumer& c = **consumer;
  if (absl::Status s = c.Assign(topic); !s.ok()) return Fail(ctx, s);
  if (absl::Status s = c.Seek(client::OffsetSpec::kEarliest); !s.ok()) return Fail(ctx, s);
  uint64_t available = 0;
  std::map<uint32_t, uint64_t> end;
  for (uint32_t p : c.assignment()) {
    auto r = c.ListOffsets(p, client::OffsetSpec::kLatest);
    if (!r.ok()) return Fail(ctx, r.status());
    end[p] = r->offset();
    available += r->offset() - r->log_start_offset();
  }
  const uint64_t target =
      *records > 0 ? std::min<uint64_t>(static_cast<uint64_t>(*records), available) : available;

  std::atomic<uint64_t> read{0};
  uint64_t bytes = 0;
  std::vector<double> poll_ms;
  const auto start = Clock::now();
  Progress progress(ctx.io.err, [&] {
    const double secs = Seconds(Clock::now() - start);
    return absl::StrFormat("bench consume: %d of %d records, %.0f records/s", read.load(), target,
                           secs > 0 ? static_cast<double>(read.load()) / secs : 0);
  });
  int exit_code = kExitOk;
  auto idle_since = Clock::now();
  // Read up to the end offsets as they were at the start (on a compacted topic fewer records than offsets exist).
  auto at_end = [&] {
    for (const auto& [p, e] : end) {
      if (c.Position(p).value_or(e) < e) return false;
    }
    return true;
  };
  while (read.load() < target && !at_end()) {
    const auto t0 = Clock::now();
    auto result = c.Poll(std::chrono::milliseconds(1000));
    if (!result.ok()) {
      exit_code = Fail(ctx, result.status());
      break;
    }
    if (!result->records.empty())
      poll_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    for (const auto& r : result->records) bytes += r.record.key().size() + r.record.value().size();
    read.fetch_add(result->records.size());
    if (!result->empty()) {
      idle_since = Clock::now();
    } else if (Clock::now() - idle_since > ctx.timeout) {
      exit_code = Fail(ctx, absl::DeadlineExceededError("no records within --timeout-ms"));
      break;
    }
  }
  const double secs = Seconds(Clock::now() - start);
  progress.Stop();
  Report(ctx, "consume", read.load(), bytes, 0, secs, std::move(poll_ms), "poll", std::nullopt);
  return exit_code;
}

}  // namespace brook::cli
