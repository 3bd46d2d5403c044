// Prometheus metrics of a node (docs/decisions.md D9; every metric is listed in docs/metrics.md).
//
// Served by prometheus-cpp's pull exposer on --metrics_addr at /metrics. Sources:
//   - the host loop reports storage writes, applied batches and commit latency as they happen (HostMetrics);
//   - a gRPC server interceptor counts every API call by method and status code, with latency and bytes;
//   - Refresh() (twice a second, from the node's health thread) samples Raft state per group, storage
//     figures, transport figures per peer and the process (CPU, memory, open files).
// Label cardinality is bounded: per-partition series (topic, partition labels) exist only with
// --per_partition_metrics (default on); peers are bounded by the cluster size; methods and codes are fixed sets.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/api/services.h"
#include "server/host/host.h"
#include "server/host/host_metrics.h"
#include "server/transport/transport.h"
#include "storage/store.h"

namespace brook::server {

class Metrics final : public HostMetrics {
 public:
  // Binds the metrics endpoint. UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const std::string& address, uint64_t node_id,
                                                         bool per_partition);
  ~Metrics() override;
  // The port the exposer listens on (the one picked when --metrics_addr asked for port 0).
  int port() const { return exposer_->GetListeningPorts().empty() ? 0 : exposer_->GetListeningPorts().front(); }

  // Adds the API interceptor to the client server (before BuildAndStart).
  void InstallServerMetrics(grpc::ServerBuilder& builder);
  // Sources sampled by Refresh. All must outlive this object or be detached by destroying it first.
  void Attach(Host* host, storage::Store* store, const Transport* transport, ServiceContext* services,
              const std::map<uint64_t, std::string>& members);
  void Refresh();

  // HostMetrics (loop thread).
  void ObserveWrite(size_t groups, bool synced, std::chrono::steady_clock::duration latency) override;
  void ObserveApplied(raft::GroupId group, const PartitionApplied& applied) override;
  void ObserveCommit(raft::GroupId group, std::chrono::steady_clock::duration latency) override;
  void ObserveCompaction(raft::GroupId group, const PassOutcome& outcome,
                         std::chrono::steady_clock::duration took) override;
  void ObserveMoveCompleted(std::chrono::milliseconds took, uint64_t bytes) override;
  void SetMovesInFlight(int moves) override;

  // API interceptor hooks (gRPC threads).
  void ObserveCall(const std::string& method, int code, double seconds, size_t request_bytes,
                   size_t response_bytes);
  prometheus::Gauge& inflight_requests() { return *inflight_; }

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  Metrics(uint64_t node_id, bool per_partition);
  void RefreshStorage();
  // Disk-full guard, node-to-node refusals, slow Subscribe consumers.
  void RefreshGuards();
  void RefreshTransport();
  // Refusals of authentication, ACLs and quotas (access.h).
  void RefreshAccess(const AccessControl& access);
  void ApplyGroupStats(const StatsSample& sample);
  // The per-partition series of one group (with --per_partition_metrics).
  void ApplyPartitionStats(const GroupStats& g);
  // The partition's storage estimate, asked of RocksDB again only when its log changed or every 30 s: the estimate
  // walks the memtables, too costly to repeat for thousands of idle partitions at every refresh.
  uint64_t DiskBytes(const GroupStats& g);
  struct DiskEstimate {
    uint64_t last_index = 0;
    uint64_t log_start = 0;
    uint64_t bytes = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<uint64_t, DiskEstimate> disk_estimates_;  // by group id; groups no longer hosted are dropped
  // Key compaction (compaction_metrics.cc): the node's instruments, and a compacted partition's counters (labels
  // topic, partition).
  void BuildCompactionMetrics(prometheus::Registry& registry);
  void ApplyCompactionStats(const GroupCounters& c, const std::map<std::string, std::string>& labels);
  void RefreshProcess();
  // Consumer groups (group_metrics.cc): the rebalance histogram, and the groups coordinated here.
  void BuildGroupMetrics(prometheus::Registry& registry);
  void ApplyCoordinatorStats(const std::vector<GroupStats>& stats);
  void ObserveGroupRebalance(std::chrono::steady_clock::duration took) override;

  const uint64_t node_id_;
  const bool per_partition_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  Host* host_ = nullptr;
  storage::Store* store_ = nullptr;
  const Transport* transport_ = nullptr;
  ServiceContext* services_ = nullptr;
  std::map<uint64_t, std::string> members_;

  // Families (owned by the registry).
  prometheus::Family<prometheus::Counter>* api_requests_;
  prometheus::Family<prometheus::Histogram>* api_latency_;
  prometheus::Family<prometheus::Counter>* api_request_bytes_;
  prometheus::Family<prometheus::Counter>* api_response_bytes_;
  prometheus::Gauge* inflight_;
  prometheus::Gauge* subscriptions_;

  prometheus::Family<prometheus::Histogram>* write_latency_;
  prometheus::Histogram* write_synced_;  // cached: observed on every storage write, on the loop thread
  prometheus::Histogram* write_unsynced_;
  prometheus::Counter* cpu_seconds_;
  prometheus::Histogram* write_groups_;
  prometheus::Counter* records_appended_;
  prometheus::Counter* bytes_appended_;
  prometheus::Histogram* commit_latency_;
  prometheus::Histogram* compaction_seconds_;
  prometheus::Counter* compaction_passes_;
  prometheus::Counter* compaction_removed_;
  prometheus::Counter* compaction_bytes_before_;
  prometheus::Counter* compaction_bytes_after_;
  prometheus::Histogram* move_seconds_;
  prometheus::Counter* move_bytes_;
  prometheus::Gauge* moves_in_flight_;
  prometheus::Histogram* group_rebalance_seconds_;

  prometheus::Family<prometheus::Gauge>* gauges_;
  prometheus::Family<prometheus::Counter>* counters_;

  // Series of families created by name on first use (Refresh and ApplyGroupStats; one thread at a time).
  prometheus::Gauge& GaugeOf(const std::string& name, const std::string& help,
                             const std::map<std::string, std::string>& labels = {});
  prometheus::Counter& CounterOf(const std::string& name, const std::string& help,
                                 const std::map<std::string, std::string>& labels = {});
  // Series set by the previous and the current ApplyGroupStats (see there).
  template <typename T>
  static void RemoveStale(std::map<prometheus::Family<T>*, std::set<T*>>& live,
                          std::map<prometheus::Family<T>*, std::set<T*>>& touched);
  bool tracking_ = false;
  std::map<prometheus::Family<prometheus::Gauge>*, std::set<prometheus::Gauge*>> live_gauges_, touched_gauges_;
  std::map<prometheus::Family<prometheus::Counter>*, std::set<prometheus::Counter*>> live_counters_,
      touched_counters_;
  // Mirrors of counters kept elsewhere (monotonic totals): we add the difference since the last sample.
  void SetTotal(prometheus::Counter& c, double value);

  std::mutex api_mu_;  // guards family Add() for API series (prometheus-cpp's Add is thread-safe; kept for maps)
  std::map<std::pair<std::string, int>, prometheus::Counter*> api_request_counters_;
  std::map<std::string, prometheus::Histogram*> api_latency_histograms_;
  std::map<std::string, std::pair<prometheus::Counter*, prometheus::Counter*>> api_bytes_;

  // Families created by name on first use (Refresh runs on one thread at a time).
  std::map<std::string, void*> known_families_;
  std::mutex refresh_mu_;
  std::optional<StatsSample> latest_stats_;  // guarded by refresh_mu_: written on the loop, read by Refresh
};

}  // namespace brook::server
