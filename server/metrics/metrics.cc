#include "server/metrics/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/metrics/api_interceptor.h"

#ifndef BROOK_VERSION
#define BROOK_VERSION "0.0.0"
#endif
#ifndef BROOK_GIT_COMMIT
#define BROOK_GIT_COMMIT "unknown"
#endif

namespace brook::server {
namespace {

using prometheus::Histogram;

Histogram::BucketBoundaries LatencyBuckets() {
  // 50 us .. 10 s, roughly x2.5 steps: fine enough around a healthy sub-millisecond commit.
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

// Names a family once; later calls return the same one.
template <typename Builder, typename T>
prometheus::Family<T>& FamilyOf(prometheus::Registry& registry, std::map<std::string, void*>& known,
                                const std::string& name, const std::string& help, Builder builder) {
  auto it = known.find(name);
  if (it != known.end()) return *static_cast<prometheus::Family<T>*>(it->second);
  auto& f = builder.Name(name).Help(help).Register(registry);
  known[name] = &f;
  return f;
}

const char* CodeName(int code) {
  static const char* names[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const std::string& address, uint64_t node_id,
                                                         bool per_partition) {
  std::unique_ptr<Metrics> m(new Metrics(node_id, per_partition));
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on --metrics_addr ", address, ": ", e.what()));
  }
  m->exposer_->RegisterCollectable(m->registry_);
  return m;
}

Metrics::Metrics(uint64_t node_id, bool per_partition)
    : node_id_(node_id), per_partition_(per_partition), registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  prometheus::BuildGauge()
      .Name("brook_build_info")
      .Help("Always 1; labels say the version and git commit of this brookd")
      .Register(r)
      .Add({{"version", BROOK_VERSION}, {"git_commit", BROOK_GIT_COMMIT}, {"node", absl::StrCat(node_id)}})
      .Set(1);
  api_requests_ = &prometheus::BuildCounter()
                       .Name("brook_api_requests_total")
                       .Help("API calls finished, by method and gRPC status code")
                       .Register(r);
  api_latency_ = &prometheus::BuildHistogram()
                      .Name("brook_api_request_duration_seconds")
                      .Help("API call latency from receipt to status, by method (streams: their whole life)")
                      .Register(r);
  api_request_bytes_ = &prometheus::BuildCounter()
                            .Name("brook_api_request_bytes_total")
                            .Help("Bytes of API request messages received, by method")
                            .Register(r);
  api_response_bytes_ = &prometheus::BuildCounter()
                             .Name("brook_api_response_bytes_total")
                             .Help("Bytes of API response messages sent, by method")
                             .Register(r);
  inflight_ = &prometheus::BuildGauge()
                   .Name("brook_api_inflight_requests")
                   .Help("API calls in progress (including open Subscribe streams)")
                   .Register(r)
                   .Add({});
  subscriptions_ = &prometheus::BuildGauge()
                        .Name("brook_api_subscribe_streams")
                        .Help("Open Subscribe streams")
                        .Register(r)
                        .Add({});
  write_latency_ =
      &prometheus::BuildHistogram()
           .Name("brook_storage_write_duration_seconds")
           .Help("Group-commit storage writes (one WriteBatch for all groups of a loop turn), by synced")
           .Register(r);
  write_synced_ = &write_latency_->Add({{"synced", "true"}}, LatencyBuckets());
  write_unsynced_ = &write_latency_->Add({{"synced", "false"}}, LatencyBuckets());
  cpu_seconds_ = &prometheus::BuildCounter()
                      .Name("process_cpu_seconds_total")
                      .Help("User and system CPU time of brookd")
                      .Register(r)
                      .Add({});
  write_groups_ = &prometheus::BuildHistogram()
                       .Name("brook_storage_write_groups")
                       .Help("Groups whose work one group-commit write carried")
                       .Register(r)
                       .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  records_appended_ = &prometheus::BuildCounter()
                           .Name("brook_records_applied_total")
                           .Help("Records committed and applied on this node (all partitions)")
                           .Register(r)
                           .Add({});
  bytes_appended_ = &prometheus::BuildCounter()
                         .Name("brook_batches_applied_total")
                         .Help("Record batches committed and applied on this node (all partitions)")
                         .Register(r)
                         .Add({});
  commit_latency_ = &prometheus::BuildHistogram()
                         .Name("brook_raft_append_to_commit_seconds")
                         .Help("Leader: time from proposing a record batch to applying it committed")
                         .Register(r)
                         .Add({}, LatencyBuckets());
  BuildCompactionMetrics(r);
  BuildGroupMetrics(r);
}

Metrics::~Metrics() {
  if (exposer_) exposer_->RemoveCollectable(registry_);
}

void Metrics::InstallServerMetrics(grpc::ServerBuilder& builder) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(MakeApiInterceptorFactory(this));
  builder.experimental().SetInterceptorCreators(std::move(factories));
}

void Metrics::Attach(Host* host, storage::Store* store, const Transport* transport, ServiceContext* services,
                     const std::map<uint64_t, std::string>& members) {
  host_ = host;
  store_ = store;
  transport_ = transport;
  services_ = services;
  members_ = members;
}

void Metrics::ObserveCall(const std::string& method, int code, double seconds, size_t request_bytes,
                          size_t response_bytes) {
  std::lock_guard lock(api_mu_);
  auto key = std::make_pair(method, code);
  auto it = api_request_counters_.find(key);
  if (it == api_request_counters_.end()) {
    it = api_request_counters_.emplace(key, &api_requests_->Add({{"method", method}, {"code", CodeName(code)}}))
             .first;
  }
  it->second->Increment();
  auto h = api_latency_histograms_.find(method);
  if (h == api_latency_histograms_.end()) {
    h = api_latency_histograms_.emplace(method, &api_latency_->Add({{"method", method}}, LatencyBuckets())).first;
  }
  h->second->Observe(seconds);
  auto b = api_bytes_.find(method);
  if (b == api_bytes_.end()) {
    b = api_bytes_
            .emplace(method, std::make_pair(&api_request_bytes_->Add({{"method", method}}),
                                            &api_response_bytes_->Add({{"method", method}})))
            .first;
  }
  b->second.first->Increment(static_cast<double>(request_bytes));
  b->second.second->Increment(static_cast<double>(response_bytes));
}

void Metrics::ObserveWrite(size_t groups, bool synced, std::chrono::steady_clock::duration latency) {
  (synced ? write_synced_ : write_unsynced_)->Observe(std::chrono::duration<double>(latency).count());
  write_groups_->Observe(static_cast<double>(groups));
}

void Metrics::ObserveApplied(raft::GroupId, const PartitionApplied& applied) {
  records_appended_->Increment(applied.record_count);
  bytes_appended_->Increment();
}

void Metrics::ObserveCommit(raft::GroupId, std::chrono::steady_clock::duration latency) {
  commit_latency_->Observe(std::chrono::duration<double>(latency).count());
}

prometheus::Gauge& Metrics::GaugeOf(const std::string& name, const std::string& help,
                                    const std::map<std::string, std::string>& labels) {
  auto& family = FamilyOf<prometheus::detail::Builder<prometheus::Gauge>, prometheus::Gauge>(
      *registry_, known_families_, name, help, prometheus::BuildGauge());
  auto& gauge = family.Add(labels);
  if (tracking_) touched_gauges_[&family].insert(&gauge);
  return gauge;
}

prometheus::Counter& Metrics::CounterOf(const std::string& name, const std::string& help,
                                        const std::map<std::string, std::string>& labels) {
  auto& family = FamilyOf<prometheus::detail::Builder<prometheus::Counter>, prometheus::Counter>(
      *registry_, known_families_, name, help, prometheus::BuildCounter());
  auto& counter = family.Add(labels);
  if (tracking_) touched_counters_[&family].insert(&counter);
  return counter;
}

template <typename T>
void Metrics::RemoveStale(std::map<prometheus::Family<T>*, std::set<T*>>& live,
                          std::map<prometheus::Family<T>*, std::set<T*>>& touched) {
  for (auto& [family, metrics] : live) {
    const auto& now = touched[family];
    for (T* m : metrics) {
      if (!now.contains(m)) family->Remove(m);
    }
  }
  live = std::move(touched);
  touched.clear();
}

void Metrics::SetTotal(prometheus::Counter& c, double value) {
  double delta = value - c.Value();
  if (delta > 0) c.Increment(delta);
}

void Metrics::Refresh() {
  if (host_ == nullptr) return;
  subscriptions_->Set(services_ != nullptr ? services_->subscriptions.load() : 0);
  GaugeOf("brook_node_ready", "1 once the node has caught up with the metadata and sees a controller", {})
      .Set(host_->ready() ? 1 : 0);
  RefreshStorage();
  RefreshGuards();
  RefreshTransport();
  RefreshProcess();
  // Sample on the loop (cheap copies), apply here on the caller's thread at the next Refresh: storage size
  // estimates per group must not run on the loop.
  std::optional<StatsSample> latest;
  {
    std::lock_guard lock(refresh_mu_);
    latest.swap(latest_stats_);
  }
  if (latest.has_value()) ApplyGroupStats(*latest);
  host_->CollectStats(per_partition_, [this](StatsSample stats) {
    std::lock_guard lock(refresh_mu_);
    latest_stats_ = std::move(stats);
  });
}

void Metrics::RefreshStorage() {
  // Storage.
  auto st = store_->Stats();
  SetTotal(CounterOf("brook_storage_writes_total", "Storage write calls", {}), static_cast<double>(st.writes));
  SetTotal(CounterOf("brook_storage_synced_writes_total", "Storage write calls that fsynced the WAL", {}),
           static_cast<double>(st.synced_writes));
  SetTotal(CounterOf("brook_storage_write_bytes_total", "Bytes of WriteBatch handed to RocksDB", {}),
           static_cast<double>(st.write_batch_bytes));
  SetTotal(
      CounterOf("brook_rocksdb_stall_seconds_total", "Time RocksDB stalled writes on flush/compaction debt", {}),
      static_cast<double>(st.stall_micros) / 1e6);
  GaugeOf("brook_rocksdb_pending_compaction_bytes", "RocksDB's estimate of bytes compaction still has to rewrite",
          {})
      .Set(static_cast<double>(st.pending_compaction_bytes));
  GaugeOf("brook_rocksdb_live_sst_bytes", "Bytes of live SST files", {})
      .Set(static_cast<double>(st.live_sst_bytes));
  GaugeOf("brook_rocksdb_memtable_bytes", "Bytes in RocksDB memtables", {})
      .Set(static_cast<double>(st.memtable_bytes));
  GaugeOf("brook_rocksdb_l0_files", "SST files in level 0 of the log column family", {})
      .Set(static_cast<double>(st.l0_files));
}

void Metrics::RefreshGuards() {
  // Disk-full guard, transport refusals, slow Subscribe consumers.
  const DiskGuard& disk = host_->disk();
  GaugeOf("brook_disk_free_bytes",
          "Free bytes on the data directory's filesystem, as the disk guard last measured", {})
      .Set(disk.free_bytes() == UINT64_MAX ? 0 : static_cast<double>(disk.free_bytes()));
  GaugeOf("brook_disk_reserve_bytes", "Free space kept in reserve (--disk_reserve_mb)", {})
      .Set(static_cast<double>(disk.reserve_bytes()));
  GaugeOf("brook_disk_writes_refused", "1 while free space is under the reserve and writes are refused", {})
      .Set(disk.reserve_bytes() > 0 && disk.low() ? 1 : 0);
  SetTotal(CounterOf("brook_disk_appends_dropped_total",
                     "Replicated appends dropped because free space was under half the reserve", {}),
           static_cast<double>(disk.dropped_appends()));
  const TransportRejections& rej = transport_->rejections();
  for (const auto& [reason, value] :
       {std::pair<const char*, uint64_t>{"unauthenticated", rej.unauthenticated_streams.load()},
        {"not_member", rej.non_member_streams.load()},
        {"forged_batch", rej.forged_batches.load()},
        {"forged_message", rej.forged_messages.load()}}) {
    SetTotal(CounterOf("brook_transport_rejected_total",
                       "Node-to-node streams, batches and messages refused, by reason", {{"reason", reason}}),
             static_cast<double>(value));
  }
  if (services_ != nullptr) {
    SetTotal(CounterOf("brook_subscriptions_cancelled_slow_total",
                       "Subscribe streams cancelled because their client stopped reading", {}),
             static_cast<double>(services_->stalled_subscriptions_cancelled.load()));
    if (services_->access != nullptr) RefreshAccess(*services_->access);
  }
}

void Metrics::RefreshTransport() {
  // Transport.
  for (const auto& [id, addr] : members_) {
    if (id == node_id_) continue;
    const PeerStats* ps = transport_->stats(id);
    if (ps == nullptr) continue;
    std::map<std::string, std::string> peer{{"peer", absl::StrCat(id)}};
    SetTotal(CounterOf("brook_transport_messages_sent_total", "Raft messages sent, by peer", peer),
             static_cast<double>(ps->messages_sent.load()));
    SetTotal(CounterOf("brook_transport_bytes_sent_total", "Bytes of message batches sent, by peer", peer),
             static_cast<double>(ps->bytes_sent.load()));
    SetTotal(CounterOf("brook_transport_messages_received_total", "Raft messages received, by peer", peer),
             static_cast<double>(ps->messages_received.load()));
    SetTotal(CounterOf("brook_transport_bytes_received_total", "Bytes of message batches received, by peer", peer),
             static_cast<double>(ps->bytes_received.load()));
    SetTotal(CounterOf("brook_transport_batches_dropped_total",
                       "Batches dropped because the peer's queue was full", peer),
             static_cast<double>(ps->batches_dropped.load()));
    SetTotal(
        CounterOf("brook_transport_reconnects_total", "Streams opened to the peer (first one included)", peer),
        static_cast<double>(ps->reconnects.load()));
    SetTotal(
        CounterOf("brook_transport_streams_ended_total",
                  "Streams from the peer that carried a batch and then ended (closed, or the connection broke)",
                  peer),
        static_cast<double>(ps->streams_ended.load()));
    GaugeOf("brook_transport_peer_reachable", "1 if something was heard from the peer within an election timeout",
            peer)
        .Set(transport_->reachable(id) ? 1 : 0);
  }
}

void Metrics::ApplyGroupStats(const StatsSample& sample) {
  // Series of this sample that a later sample does not set again (a partition deleted or moved away, consumer
  // groups of a partition no longer led here) are removed, so stale values never linger.
  tracking_ = true;
  const std::vector<GroupStats>& stats = sample.groups;
  if (disk_estimates_.size() > stats.size()) {  // some groups are gone: forget their estimates
    std::map<uint64_t, DiskEstimate> kept;
    for (const auto& g : stats) {
      if (auto it = disk_estimates_.find(g.group); it != disk_estimates_.end()) kept.insert(*it);
    }
    disk_estimates_.swap(kept);
  }
  raft::DroppedMessages dropped = sample.totals.dropped;
  for (const auto& g : stats) {
    if (g.is_metadata) {
      GaugeOf("brook_metadata_is_controller", "1 if this node leads the metadata group", {})
          .Set(g.is_leader ? 1 : 0);
      GaugeOf("brook_metadata_term", "Raft term of the metadata group", {}).Set(static_cast<double>(g.term));
      GaugeOf("brook_metadata_commit_index", "Commit index of the metadata group", {})
          .Set(static_cast<double>(g.commit_index));
      for (size_t r = 0; r < raft::kDropReasonCount; ++r) dropped.by_reason[r] += g.dropped.by_reason[r];
      continue;
    }
    if (per_partition_) ApplyPartitionStats(g);
  }
  ApplyCoordinatorStats(stats);
  for (size_t r = 0; r < raft::kDropReasonCount; ++r) {
    SetTotal(CounterOf("brook_raft_messages_dropped_total",
                       "Raft messages the groups of this node refused, by reason (raft/README.md)",
                       {{"reason", raft::DropReasonName(static_cast<raft::DropReason>(r))}}),
             static_cast<double>(dropped.by_reason[r]));
  }
  const PartitionTotals& t = sample.totals;
  GaugeOf("brook_partitions_led", "Partitions this node leads", {}).Set(static_cast<double>(t.led));
  GaugeOf("brook_groups_without_leader", "Hosted partitions with no known leader", {})
      .Set(static_cast<double>(t.leaderless));
  GaugeOf("brook_partitions_under_replicated", "Led partitions with a voter behind the commit index", {})
      .Set(static_cast<double>(t.under_replicated));
  GaugeOf("brook_groups_hosted", "Raft groups hosted on this node", {})
      .Set(static_cast<double>(t.partitions + 1));  // and the metadata group
  GaugeOf("brook_groups_quiet", "Hosted partitions that are idle and caught up: not ticking or heartbeating", {})
      .Set(static_cast<double>(t.quiet));
  SetTotal(CounterOf("brook_raft_node_elections_started_total", "Elections started on this node, all groups", {}),
           static_cast<double>(t.elections_started));
  SetTotal(CounterOf("brook_raft_node_elections_won_total", "Elections won on this node, all groups", {}),
           static_cast<double>(t.elections_won));
  SetTotal(CounterOf("brook_raft_node_leader_changes_total", "Leader changes seen on this node, all groups", {}),
           static_cast<double>(t.leader_changes));
  tracking_ = false;
  RemoveStale(live_gauges_, touched_gauges_);
  RemoveStale(live_counters_, touched_counters_);
}

void Metrics::ApplyPartitionStats(const GroupStats& g) {
  std::map<std::string, std::string> l{{"topic", g.topic}, {"partition", absl::StrCat(g.partition)}};
  GaugeOf("brook_raft_term", "Raft term of the partition's group", l).Set(static_cast<double>(g.term));
  GaugeOf("brook_raft_commit_index", "Raft commit index known on this node", l)
      .Set(static_cast<double>(g.commit_index));
  GaugeOf("brook_raft_applied_index", "Raft index applied on this node", l)
      .Set(static_cast<double>(g.applied_index));
  GaugeOf("brook_raft_last_index", "Last Raft index in this node's log", l).Set(static_cast<double>(g.last_index));
  GaugeOf("brook_raft_is_leader", "1 if this node leads the partition", l).Set(g.is_leader ? 1 : 0);
  GaugeOf("brook_raft_leader_id", "Node id of the leader this node knows, 0 if none", l)
      .Set(static_cast<double>(g.leader));
  GaugeOf("brook_raft_max_follower_lag_entries", "Leader: largest number of entries a follower is behind", l)
      .Set(static_cast<double>(g.max_follower_lag));
  GaugeOf("brook_raft_under_replicated_replicas",
          "Leader: voters not heard from within an election timeout or behind the commit index", l)
      .Set(static_cast<double>(g.under_replicated));
  SetTotal(CounterOf("brook_raft_elections_started_total", "Elections this node started as candidate", l),
           static_cast<double>(g.counters.elections_started));
  SetTotal(CounterOf("brook_raft_elections_won_total", "Elections this node won", l),
           static_cast<double>(g.counters.elections_won));
  SetTotal(CounterOf("brook_raft_leader_changes_total", "Leader changes this node saw", l),
           static_cast<double>(g.counters.leader_changes));
  SetTotal(CounterOf("brook_raft_snapshots_installed_total", "Snapshots this node installed from a leader", l),
           static_cast<double>(g.counters.snapshots_installed));
  SetTotal(CounterOf("brook_raft_log_truncations_total", "Log prefixes this node dropped by retention", l),
           static_cast<double>(g.counters.truncations));
  // Compacted partitions only: no idle series for the others.
  if (g.counters.compaction_passes > 0) ApplyCompactionStats(g.counters, l);
  GaugeOf("brook_partition_high_watermark", "Offset after the last committed record, as applied here", l)
      .Set(static_cast<double>(g.high_watermark));
  GaugeOf("brook_partition_log_start_offset", "First offset still stored here", l)
      .Set(static_cast<double>(g.log_start_offset));
  GaugeOf("brook_partition_log_end_offset", "Offset after the last record in this node's log (committed or not)",
          l)
      .Set(static_cast<double>(g.log_end_offset));
  GaugeOf("brook_partition_disk_bytes", "Bytes the partition occupies in storage (RocksDB estimate)", l)
      .Set(static_cast<double>(DiskBytes(g)));
  if (g.is_leader) {
    for (const auto& [group, offset] : g.group_offsets) {
      std::map<std::string, std::string> gl = l;
      gl["group"] = group;
      GaugeOf("brook_consumer_group_offset", "Leader: committed offset of a consumer group", gl)
          .Set(static_cast<double>(offset));
      GaugeOf("brook_consumer_group_lag", "Leader: high watermark minus the group's committed offset", gl)
          .Set(static_cast<double>(g.high_watermark > offset ? g.high_watermark - offset : 0));
    }
  }
}

uint64_t Metrics::DiskBytes(const GroupStats& g) {
  const auto now = std::chrono::steady_clock::now();
  auto [it, fresh] = disk_estimates_.try_emplace(g.group);
  DiskEstimate& e = it->second;
  if (fresh || e.last_index != g.last_index || e.log_start != g.log_start_offset ||
      now - e.at > std::chrono::seconds(30)) {
    e = DiskEstimate{g.last_index, g.log_start_offset, store_->ApproximateGroupBytes(g.group), now};
  }
  return e.bytes;
}

void Metrics::RefreshProcess() {
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    SetTotal(*cpu_seconds_, (utime + stime) / ticks);
  }
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  if (statm >> size >> resident) {
    GaugeOf("process_resident_memory_bytes", "Resident memory of brookd").Set(resident * page);
    GaugeOf("process_virtual_memory_bytes", "Virtual memory of brookd").Set(size * page);
  }
  int fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++fds;
    closedir(d);
  }
  GaugeOf("process_open_fds", "Open file descriptors of brookd").Set(std::max(0, fds - 3));
}

}  // namespace brook::server
