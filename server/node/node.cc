#include "server/node/node.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"
#include "server/common/log.h"
#include "server/host/disk_guard.h"
#include "server/metrics/https_front.h"
#include "server/metrics/metrics.h"
#include "server/transport/join.h"

namespace brook::server {

absl::StatusOr<std::map<uint64_t, std::string>> ParseMembers(absl::string_view spec) {
  std::map<uint64_t, std::string> out;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    uint64_t id = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[0], &id) || id == 0 || kv[1].empty() ||
        kv[1].find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("member '", part, "' is not ID=HOST:PORT with ID >= 1 (example: 1=127.0.0.1:7201)"));
    }
    if (!out.emplace(id, std::string(kv[1])).second) {
      return absl::InvalidArgumentError(absl::StrCat("node id ", id, " is listed twice"));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("no members given (example: 1=127.0.0.1:7201)");
  return out;
}

Node::Node(NodeConfig config) : config_(std::move(config)) {
  if (config_.advertise_client_addr.empty()) config_.advertise_client_addr = config_.client_addr;
}

Node::~Node() { Shutdown(); }

namespace {
// Node meta key of the incarnation this node first saw from `peer`.
std::string PeerIncarnationKey(uint64_t peer) { return absl::StrCat("peer_incarnation/", peer); }
}  // namespace

absl::StatusOr<uint64_t> Node::LoadIncarnation() {
  auto stored = store_->GetNodeMeta("incarnation");
  if (!stored.ok()) return stored.status();
  uint64_t self = 0;
  if (stored->has_value()) {
    if (!absl::SimpleAtoi(**stored, &self) || self == 0) {
      return absl::DataLossError(absl::StrCat("node meta 'incarnation' is not an incarnation: '", **stored, "'"));
    }
    return self;
  }
  std::random_device entropy;
  while (self == 0) self = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
  if (auto s = store_->PutNodeMeta("incarnation", absl::StrCat(self)); !s.ok()) return s;
  return self;
}

absl::Status Node::Start() {
  if (auto s = OpenStore(); !s.ok()) return s;
  auto incarnation = LoadIncarnation();
  if (!incarnation.ok()) return incarnation.status();
  if (auto s = JoinCluster(*incarnation); !s.ok()) return s;
  if (auto s = CheckIdentity(); !s.ok()) return s;
  StartTransport(*incarnation);
  if (auto s = CreateHost(); !s.ok()) return s;
  // Node-to-node server first, so peers can reach us as soon as our groups start talking.
  if (auto s = ListenPeers(); !s.ok()) return s;
  if (auto s = host_->Start(); !s.ok()) return s;
  transport_->Start();
  if (auto s = ServeClients(); !s.ok()) return s;
  if (metrics_) metrics_->Attach(host_.get(), store_.get(), transport_.get(), &context_, config_.initial_members);
  StartHealth();
  LogInfo("n", config_.node_id, " started: client ", config_.client_addr, ", peers ", config_.peer_addr,
          ", metrics ", config_.metrics_addr.empty() ? "off" : config_.metrics_addr, ", data ", config_.data_dir);
  return absl::OkStatus();
}

absl::Status Node::OpenStore() {
  // The data directory is this node's alone (0700), whatever made it; RocksDB creates its files under umask 077.
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  std::filesystem::permissions(config_.data_dir, std::filesystem::perms::owner_all, ec);
  storage::Options options;
  options.entry_timestamp_ms = [](const raft::Entry& e) { return EntryAppendTime(e.data); };
  const uint64_t reserve = static_cast<uint64_t>(config_.disk_reserve_mb) << 20;
  if (const uint64_t free = DiskGuard::FreeBytesOf(config_.data_dir); reserve > 0 && free < reserve) {
    // A nearly full disk: open without writing the recovered WAL out, so that the node at least serves reads.
    options.flush_recovered = false;
    LogWarning("n", config_.node_id, " starts with ", free >> 20, " MiB free, under the reserve of ",
               config_.disk_reserve_mb,
               " MiB: opening without flushing the recovered WAL; writes are refused until "
               "space returns");
  }
  options.direct_io_for_flush = config_.direct_io_for_flush;
  auto store = storage::Store::Open(config_.data_dir, options);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("cannot open data directory '", config_.data_dir,
                                                            "': ", store.status().message()));
  }
  store_ = std::move(*store);
  if (config_.direct_io_for_flush && !store_->Stats().direct_io_for_flush) {
    LogInfo("n", config_.node_id, ": the file system of ", config_.data_dir,
            " refuses O_DIRECT; SST files are written through the page cache");
  }
  return absl::OkStatus();
}

absl::Status Node::JoinCluster(uint64_t incarnation) {
  auto joined = store_->GetNodeMeta("joined");
  if (!joined.ok()) return joined.status();
  joined_ = joined->has_value();
  if (config_.join.empty()) return absl::OkStatus();
  if (config_.advertise_peer_addr.empty()) config_.advertise_peer_addr = config_.peer_addr;
  auto stored_id = store_->GetNodeMeta("node_id");
  if (!stored_id.ok()) return stored_id.status();
  if (stored_id->has_value()) {
    if (!absl::SimpleAtoi(**stored_id, &config_.node_id) || config_.node_id == 0) {
      return absl::DataLossError(absl::StrCat("node meta 'node_id' is not a node id: '", **stored_id, "'"));
    }
    LogInfo("n", config_.node_id, " the data directory is node ", config_.node_id, "'s already; --join ignored");
    return absl::OkStatus();
  }
  internal::JoinRequest req;
  req.set_cluster_id(config_.cluster_id);
  req.set_incarnation(incarnation);
  req.set_peer_address(config_.advertise_peer_addr);
  req.set_client_address(config_.advertise_client_addr);
  req.set_metrics_address(config_.metrics_addr);
  LogInfo("joining cluster '", config_.cluster_id, "' through ", config_.join, " as ",
          config_.advertise_peer_addr);
  auto resp = server::JoinCluster(config_.join, config_.cluster_secret, req, config_.join_timeout, config_.tls);
  if (!resp.ok()) return resp.status();
  // Remembered before the id: a node that stops here asks again with the same incarnation and gets the same id.
  if (auto s = store_->PutNodeMeta("joined", "1"); !s.ok()) return s;
  joined_ = true;
  config_.node_id = resp->node_id();
  config_.initial_members.clear();
  for (const auto& [id, addr] : resp->members()) {
    if (id != 0 && !addr.empty()) config_.initial_members[id] = addr;
  }
  config_.initial_members[config_.node_id] = config_.advertise_peer_addr;
  LogInfo("n", config_.node_id, " admitted to cluster '", config_.cluster_id, "' as node ", config_.node_id, " (",
          config_.initial_members.size(), " members)");
  return absl::OkStatus();
}

// The data directory remembers whose it is: starting node 2 on node 1's data would corrupt the cluster. The
// members given on the first start are remembered and used when --initial_members is not given again.
absl::Status Node::CheckIdentity() {
  auto stored_id = store_->GetNodeMeta("node_id");
  auto stored_cluster = store_->GetNodeMeta("cluster_id");
  auto stored_members = store_->GetNodeMeta("members");
  if (!stored_id.ok()) return stored_id.status();
  if (!stored_cluster.ok()) return stored_cluster.status();
  if (!stored_members.ok()) return stored_members.status();
  if (stored_id->has_value() && **stored_id != absl::StrCat(config_.node_id)) {
    return absl::FailedPreconditionError(absl::StrCat("data directory '", config_.data_dir, "' belongs to node ",
                                                      **stored_id, ", not node ", config_.node_id));
  }
  if (stored_cluster->has_value() && **stored_cluster != config_.cluster_id) {
    return absl::FailedPreconditionError(absl::StrCat("data directory '", config_.data_dir,
                                                      "' belongs to cluster '", **stored_cluster, "', not '",
                                                      config_.cluster_id, "'"));
  }
  if (config_.initial_members.empty()) {
    if (!stored_members->has_value() && !config_.join.empty()) {
      return absl::DataLossError("the data directory has a node id but no members; start it with an empty one");
    }
    if (!stored_members->has_value()) {
      return absl::InvalidArgumentError(
          "--initial_members is required on the first start (example: 1=127.0.0.1:7201,2=127.0.0.1:7202,"
          "3=127.0.0.1:7203)");
    }
    auto members = ParseMembers(**stored_members);
    if (!members.ok()) return members.status();
    config_.initial_members = *members;
  }
  if (!config_.initial_members.contains(config_.node_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--initial_members does not list this node's id ", config_.node_id));
  }
  if (!stored_id->has_value()) {
    if (auto s = store_->PutNodeMeta("node_id", absl::StrCat(config_.node_id)); !s.ok()) return s;
    if (auto s = store_->PutNodeMeta("cluster_id", config_.cluster_id); !s.ok()) return s;
  }
  if (stored_members->has_value()) return absl::OkStatus();
  std::string members_spec;
  for (const auto& [id, addr] : config_.initial_members) {
    absl::StrAppend(&members_spec, members_spec.empty() ? "" : ",", id, "=", addr);
  }
  return store_->PutNodeMeta("members", members_spec);
}

void Node::StartTransport(uint64_t incarnation) {
  Transport::Options topts;
  topts.self = config_.node_id;
  topts.cluster_id = config_.cluster_id;
  topts.client_address = config_.advertise_client_addr;
  topts.metrics_address = config_.metrics_addr;
  topts.secret = config_.cluster_secret;
  topts.tls = config_.tls;
  topts.heard_window = std::chrono::milliseconds(config_.tick_ms * config_.election_ticks);
  topts.incarnation = incarnation;
  topts.remember_incarnation = [store = store_.get()](uint64_t peer, uint64_t value) {
    return store->PutNodeMeta(PeerIncarnationKey(peer), absl::StrCat(value));
  };
  topts.recall_incarnation = [store = store_.get()](uint64_t peer) -> uint64_t {
    auto stored = store->GetNodeMeta(PeerIncarnationKey(peer));
    uint64_t v = 0;
    if (stored.ok() && stored->has_value() && absl::SimpleAtoi(**stored, &v)) return v;
    return 0;
  };
  topts.peer_address = config_.advertise_peer_addr;
  if (topts.peer_address.empty()) {
    auto self = config_.initial_members.find(config_.node_id);
    topts.peer_address = self != config_.initial_members.end() ? self->second : config_.peer_addr;
  }
  topts.join = [this](const internal::JoinRequest& req, Transport::Options::JoinDone done) {
    host_->Join(req, std::move(done));
  };
  for (const auto& [id, addr] : config_.initial_members) {
    if (id != config_.node_id) topts.peer_addresses[id] = addr;
  }
  transport_ =
      std::make_unique<Transport>(topts, [this](internal::MessageBatch&& b) { host_->Deliver(std::move(b)); });
}

absl::Status Node::CreateHost() {
  HostOptions hopts;
  hopts.node_id = config_.node_id;
  hopts.cluster_id = config_.cluster_id;
  // A joined node bootstraps nothing: the metadata group's leader adds it (server/host/admission.h).
  if (!joined_) {
    for (const auto& [id, addr] : config_.initial_members) hopts.initial_members.push_back(id);
  }
  hopts.joined = joined_;
  hopts.tick = std::chrono::milliseconds(config_.tick_ms);
  hopts.election_ticks = config_.election_ticks;
  hopts.heartbeat_ticks = config_.heartbeat_ticks;
  hopts.quiesce_idle_groups = config_.quiesce_idle_groups;
  hopts.coalesce_produces = config_.coalesce_produces;
  hopts.retention_interval = std::chrono::milliseconds(config_.retention_check_ms);
  hopts.leader_balance_interval = std::chrono::milliseconds(config_.leader_balance_interval_ms);
  hopts.move_bytes_per_sec = config_.move_max_bytes_per_sec;
  hopts.compaction_interval = std::chrono::milliseconds(config_.compaction_check_ms);
  hopts.compaction_min_dirty_records = config_.compaction_min_dirty_records;
  hopts.compaction_max_delay = std::chrono::milliseconds(config_.compaction_max_delay_ms);
  hopts.compaction_max_key_bytes = static_cast<uint64_t>(config_.compaction_max_key_mb) << 20;
  hopts.unsafe_break = config_.unsafe_break;
  hopts.data_dir = config_.data_dir;
  hopts.disk_reserve_bytes = static_cast<uint64_t>(config_.disk_reserve_mb) << 20;
  if (config_.unsafe_break != UnsafeBreak::kNone) {
    LogError("n", config_.node_id, " runs with --unsafe_break: it breaks a safety rule on purpose (tests only)");
  }
  host_ = std::make_unique<Host>(hopts, store_.get(), transport_.get());
  if (config_.metrics_addr.empty()) return absl::OkStatus();
  const bool https = !config_.metrics_tls_cert.empty();
  // With HTTPS the exposer listens on a loopback port of its own and the front on --metrics_addr.
  auto metrics = Metrics::Create(https ? "127.0.0.1:0" : config_.metrics_addr, config_.node_id,
                                 config_.per_partition_metrics);
  if (!metrics.ok()) return metrics.status();
  metrics_ = std::move(*metrics);
  if (https) {
    auto front = HttpsFront::Start(config_.metrics_addr, metrics_->port(), config_.metrics_tls_cert,
                                   config_.metrics_tls_key);
    if (!front.ok()) return front.status();
    metrics_front_ = std::move(*front);
  }
  host_->set_metrics(metrics_.get());
  return absl::OkStatus();
}

absl::Status Node::ListenPeers() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config_.peer_addr,
                           config_.tls.enabled() ? MakeServerCredentials(config_.tls, ClientCerts::kRequire)
                                                 : grpc::InsecureServerCredentials(),
                           &port);
  // A port another process (or this one) listens on is an error, not shared: gRPC's default SO_REUSEPORT would
  // let two servers split one port's connections between them.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  // Peers ping every second (keepalive, to see a silent link); allow it, and ping them back the same way.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
  builder.RegisterService(transport_->service());
  peer_server_ = builder.BuildAndStart();
  if (peer_server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on --peer_addr ", config_.peer_addr,
                                               " (in use, or not an address of this machine?)"));
  }
  return absl::OkStatus();
}

absl::Status Node::ServeClients() {
  executor_ = std::make_unique<Executor>(2);
  timers_ = std::make_unique<Timers>();
  context_.host = host_.get();
  context_.store = store_.get();
  context_.executor = executor_.get();
  context_.timers = timers_.get();
  context_.self = config_.node_id;
  context_.cluster_id = config_.cluster_id;
  context_.reachable = [this](uint64_t id) { return transport_->reachable(id); };
  context_.max_subscriptions = config_.max_subscriptions;
  context_.subscribe_write_timeout_ms = config_.subscribe_write_timeout_ms;
  log_service_ = MakeLogService(&context_);
  admin_service_ = MakeAdminService(&context_);
  groups_service_ = MakeGroupsService(&context_);
  access_service_ = MakeAccessService(&context_);
  // Without authentication every caller is the anonymous principal; quotas ("*") still apply.
  access_ = std::make_unique<AccessControl>(config_.access, host_.get());
  if (auto s = access_->Init(); !s.ok()) return s;
  context_.access = access_.get();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      config_.client_addr,
      config_.tls.enabled() ? MakeServerCredentials(config_.tls, config_.access.mtls ? ClientCerts::kVerifyIfGiven
                                                                                     : ClientCerts::kNone)
                            : grpc::InsecureServerCredentials(),
      &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // as for the peer port
  builder.SetMaxReceiveMessageSize(static_cast<int>(Limits::kMaxMessageBytes));
  builder.SetMaxSendMessageSize(static_cast<int>(Limits::kMaxFetchBytes + (1 << 20)));
  // Bounds against floods (docs/operations.md "Limits"): streams per connection (a rapid-reset burst cannot open
  // more at once), one memory quota for every connection's buffers, idle connections closed, client keepalive
  // pings at most every 10 s.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config_.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, config_.max_connection_idle_ms);
  // Busy connections are retired too (GOAWAY at max age, +-10% jitter); calls on them finish without a deadline.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, config_.max_connection_age_ms);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, INT_MAX);
  // A connection that does not complete its HTTP/2 handshake in time is closed (idle sockets hold descriptors).
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, config_.handshake_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  grpc::ResourceQuota quota("brook-client-api");
  quota.Resize(static_cast<size_t>(config_.grpc_memory_mb) << 20);
  builder.SetResourceQuota(quota);
  builder.RegisterService(log_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.RegisterService(groups_service_.get());
  builder.RegisterService(access_service_.get());
  if (metrics_) metrics_->InstallServerMetrics(builder);
  client_server_ = builder.BuildAndStart();
  if (client_server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on --client_addr ", config_.client_addr,
                                               " (in use, or not an address of this machine?)"));
  }
  client_server_->GetHealthCheckService()->SetServingStatus(false);
  return absl::OkStatus();
}

// Readiness: SERVING once the node has caught up with the metadata it knew of at start and sees a controller.
void Node::StartHealth() {
  health_thread_ = std::thread([this] {
    NameThisThread("brook-health");
    bool serving = false;
    while (!stopping_.load()) {
      bool ready = host_->ready();
      if (ready != serving) {
        client_server_->GetHealthCheckService()->SetServingStatus(ready);
        serving = ready;
      }
      if (metrics_) metrics_->Refresh();
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
      if (int n = context_.streams.CancelStalled(now, context_.subscribe_write_timeout_ms); n > 0) {
        context_.stalled_subscriptions_cancelled.fetch_add(static_cast<uint64_t>(n));
        LogWarning("n", config_.node_id, " cancelled ", n, " Subscribe streams whose client stopped reading");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(serving ? 500 : 50));
    }
  });
}

void Node::Shutdown() {
  if (stopping_.exchange(true)) return;
  auto start = std::chrono::steady_clock::now();
  if (client_server_) client_server_->GetHealthCheckService()->SetServingStatus(false);
  context_.accepting.store(false);
  if (host_) {
    // Hand leadership away so the cluster does not wait an election timeout for us.
    host_->TransferAllLeadership();
    auto deadline = start + config_.shutdown_timeout / 2;
    while (host_->led_groups() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    LogInfo("n", config_.node_id, " shutting down; still leading ", host_->led_groups(), " groups");
    host_->Stop();
  }
  if (health_thread_.joinable()) health_thread_.join();
  if (client_server_) client_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (peer_server_) peer_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (transport_) transport_->Stop();
  timers_.reset();  // first: a timer firing now would hand work to the executor
  executor_.reset();
  metrics_front_.reset();
  metrics_.reset();
  client_server_.reset();
  peer_server_.reset();
  host_.reset();
  transport_.reset();
  store_.reset();
  LogInfo("n", config_.node_id, " stopped");
}

}  // namespace brook::server
