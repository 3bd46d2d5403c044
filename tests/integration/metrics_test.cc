// Observability end to end: a real Prometheus server scrapes a live 3-node cluster while a producer writes, and
// the key series are checked through Prometheus's query API, as an operator's dashboards and alerts see them
// (issue 6, docs/metrics.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/harness/cluster.h"
#include "tests/integration/prometheus_server.h"
#include "tests/integration/raw_client.h"

namespace brook::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 30s;  // every condition below must hold within this
constexpr uint32_t kPartitions = 3;
constexpr int kBatchRecords = 50;
constexpr uint64_t kMinRecords = 3000;    // produced in total, at least
constexpr uint64_t kMaxRecords = 200000;  // bound on a producer left running by a slow check

using Samples = std::vector<PromSample>;

// Produces batches round-robin over the partitions from its own thread until stopped (after at least
// kMinRecords), paced so that production spans several scrapes.
class BackgroundProducer {
 public:
  BackgroundProducer(std::vector<std::string> addresses, std::string topic)
      : thread_([this, addresses = std::move(addresses), topic = std::move(topic)] { Run(addresses, topic); }) {}
  ~BackgroundProducer() { Stop(); }

  // Returns once at least kMinRecords were produced (or the producer failed).
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t produced() const { return produced_; }
  const grpc::Status& error() const { return error_; }  // after Stop

 private:
  void Run(const std::vector<std::string>& addresses, const std::string& topic) {
    RawClient client(addresses);
    // Idempotent, so that a retried batch is never applied twice and the final count is exact.
    const uint64_t producer_id = (static_cast<uint64_t>(getpid()) << 32) | 0x6d657472;
    uint64_t sequence[kPartitions] = {};
    for (uint32_t i = 0; (!stop_ || produced_ < kMinRecords) && produced_ < kMaxRecords; ++i) {
      v1::ProduceRequest req;
      req.set_topic(topic);
      req.set_partition(i % kPartitions);
      req.set_producer_id(producer_id);
      req.set_sequence(sequence[i % kPartitions]);
      sequence[i % kPartitions] += kBatchRecords;
      for (int r = 0; r < kBatchRecords; ++r) req.add_records()->set_value(absl::StrCat("record-", i, "-", r));
      v1::ProduceResponse resp;
      if (auto s = client.Produce(req, &resp, 15s); !s.ok()) {
        error_ = s;
        return;
      }
      produced_ += kBatchRecords;
      std::this_thread::sleep_for(5ms);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> produced_{0};
  grpc::Status error_;  // written by the thread, read after join
  std::thread thread_;
};

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::Start(ClusterOptions{});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    std::vector<std::string> targets;
    for (const auto& n : cluster_->nodes()) targets.push_back(n.metrics_address);
    auto p = PrometheusServer::Start(targets, 1s);
    ASSERT_TRUE(p.ok()) << p.status();
    prometheus_ = std::move(*p);
  }

  // Polls `promql` until `holds` accepts its result or kWait passes; the last result is kept for Explain().
  bool Eventually(const std::string& promql, const std::function<bool(const Samples&)>& holds) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    for (;;) {
      auto result = prometheus_->Query(promql);
      if (result.ok() && holds(*result)) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(250ms);
    }
  }
  // Waits for a one-series query to have a value, then for it to exceed that first value.
  bool Rises(const std::string& promql, double* first, double* last) {
    if (!Eventually(promql, [&](const Samples& s) { return s.size() == 1 && (*first = s[0].value) > 0; })) {
      return false;
    }
    return Eventually(promql, [&](const Samples& s) { return s.size() == 1 && (*last = s[0].value) > *first; });
  }

  // What a failed check prints: the last query and its answer, and Prometheus's log.
  std::string Explain() const {
    return absl::StrCat("\nlast ", prometheus_->last_response(), "\nprometheus log tail:\n",
                        prometheus_->LogTail());
  }

  static bool AllEqual(const Samples& s, size_t series, double value) {
    if (s.size() != series) return false;
    for (const auto& x : s) {
      if (x.value != value) return false;
    }
    return true;
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<PrometheusServer> prometheus_;  // destroyed first: killed by PID, also when a check fails
};

TEST_F(MetricsTest, prometheus_sees_every_node_and_the_key_series_move_under_traffic) {
  ASSERT_TRUE(Eventually("up{job=\"brook\"}", [](const Samples& s) { return AllEqual(s, 3, 1); }))
      << "expected 3 targets, all up" << Explain();

  RawClient client(cluster_->client_addresses());
  ASSERT_TRUE(client.CreateTopic("metrics", kPartitions).ok());
  BackgroundProducer producer(cluster_->client_addresses(), "metrics");

  double first = 0, last = 0;
  EXPECT_TRUE(Rises("sum(brook_records_applied_total)", &first, &last))
      << "records applied did not rise while producing (first " << first << ", last " << last << ")" << Explain();
  EXPECT_TRUE(Rises("sum(brook_raft_commit_index{topic=\"metrics\"})", &first, &last))
      << "commit index did not advance while producing (first " << first << ", last " << last << ")" << Explain();
  EXPECT_TRUE(Eventually("sum by (topic, partition) (brook_raft_is_leader{topic=\"metrics\"})",
                         [](const Samples& s) { return AllEqual(s, kPartitions, 1); }))
      << "expected exactly one leader for each of the " << kPartitions << " partitions" << Explain();
  EXPECT_TRUE(Eventually("sum(brook_partitions_led)",
                         [](const Samples& s) { return s.size() == 1 && s[0].value == kPartitions; }))
      << "the node totals should count each partition's leader once" << Explain();
  EXPECT_TRUE(Eventually("brook_groups_hosted", [](const Samples& s) { return AllEqual(s, 3, kPartitions + 1); }))
      << "every node hosts every partition and the metadata group" << Explain();
  EXPECT_TRUE(Eventually("sum(brook_api_requests_total{method=\"Produce\",code=\"OK\"})",
                         [](const Samples& s) { return s.size() == 1 && s[0].value > 0; }))
      << "no successful Produce counted" << Explain();
  EXPECT_TRUE(Eventually("sum(brook_storage_write_duration_seconds_count{synced=\"true\"})",
                         [](const Samples& s) { return s.size() == 1 && s[0].value > 0; }))
      << "no synced storage write observed" << Explain();
  EXPECT_TRUE(Eventually("brook_build_info", [](const Samples& s) { return s.size() == 3; }))
      << "expected one build_info series per node" << Explain();

  producer.Stop();
  EXPECT_TRUE(producer.error().ok()) << producer.error().error_message();
  EXPECT_GE(producer.produced(), kMinRecords);
  // Every record produced is applied on all three replicas, and Prometheus sees it all after a scrape or two.
  const double expected = 3.0 * static_cast<double>(producer.produced());
  EXPECT_TRUE(Eventually("sum(brook_records_applied_total)",
                         [&](const Samples& s) { return s.size() == 1 && s[0].value == expected; }))
      << "expected " << expected << " records applied over 3 replicas" << Explain();

  // A killed node's streams end at once: its peers count it (and take it for down without waiting out an
  // election timeout of silence, docs/decisions.md A20).
  ASSERT_TRUE(cluster_->Kill(3).ok());
  EXPECT_TRUE(Eventually("brook_transport_streams_ended_total{peer=\"3\"} > 0",
                         [](const Samples& s) { return s.size() == 2; }))
      << "both other nodes should count the end of n3's stream" << Explain();
}

}  // namespace
}  // namespace brook::testing
