#include "tests/fault/run.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "brook/v1/admin.grpc.pb.h"
#include "brook/v1/errors.pb.h"
#include "brook/v1/log.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/fault/fault_net.h"
#include "tests/fault/power.h"
#include "tests/harness/cluster.h"
#include "tests/integration/raw_client.h"

#ifndef BROOK_SYNC_TRACKER_PATH
#define BROOK_SYNC_TRACKER_PATH ""
#endif

namespace brook::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kTopic = "jepsen";
constexpr size_t kMaxExamples = 12;

struct FaultInfo {
  Fault fault;
  const char* name;
  bool network;
};
constexpr FaultInfo kFaults[] = {
    {Fault::kKill, "kill", false},
    {Fault::kKillLeader, "kill_leader", false},
    {Fault::kPause, "pause", false},
    {Fault::kPauseLeader, "pause_leader", false},
    {Fault::kRestart, "restart", false},
    {Fault::kPowerFail, "power_fail", false},
    {Fault::kPowerFailAll, "power_fail_all", false},
    {Fault::kPartition, "partition", true},
    {Fault::kIsolateLeader, "isolate_leader", true},
    {Fault::kOneWay, "one_way", true},
    {Fault::kBridge, "bridge", true},
    {Fault::kTransferLeader, "transfer_leader", false},
    {Fault::kMoveReplica, "move_replica", false},
    {Fault::kReplaceNode, "replace_node", false},
};

bool IsNetwork(Fault f) {
  for (const auto& i : kFaults) {
    if (i.fault == f) return i.network;
  }
  return false;
}

enum class Outcome { kOk, kFailed, kUnknown };

struct Op {
  uint32_t partition = 0;
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;
  uint64_t sequence = 0;
  std::vector<std::string> values;
  int64_t invoke_ms = 0;
  int64_t complete_ms = 0;
  Outcome outcome = Outcome::kUnknown;
  uint64_t base_offset = 0;
  std::string last_error;
};

void SetDeadline(grpc::ClientContext& ctx, milliseconds d) {
  ctx.set_deadline(std::chrono::system_clock::now() + d);
}

class Runner {
 public:
  explicit Runner(const FaultOptions& o) : o_(o), start_(Clock::now()) { report_.seed = o.seed; }

  absl::StatusOr<FaultReport> Go();

 private:
  int64_t Now() const { return std::chrono::duration_cast<milliseconds>(Clock::now() - start_).count(); }
  int IndexOf(const std::string& address) const {
    for (size_t i = 0; i < addresses_.size(); ++i) {
      if (addresses_[i] == address) return static_cast<int>(i);
    }
    return -1;
  }
  void Example(std::string text) {
    std::lock_guard lock(examples_mu_);
    if (report_.examples.size() < kMaxExamples) report_.examples.push_back(std::move(text));
  }
  void Say(const std::string& text) {
    if (o_.verbose) std::fprintf(stderr, "[%7.3f s] %s\n", static_cast<double>(Now()) / 1000.0, text.c_str());
  }

  absl::Status StartCluster();
  absl::Status CreateTopic();
  Op Produce(uint32_t partition, uint64_t producer_id, uint32_t producer_epoch, uint64_t sequence,
             std::vector<std::string> values, int& target, milliseconds timeout);
  // A producer (re)starting under its name: its id and next epoch from the controller; nullopt if none answered
  // in time.
  std::optional<std::pair<uint64_t, uint32_t>> InitProducer(const std::string& name, int& target);
  void Producer(int index);
  void Consumer(int index);
  void Nemesis();
  void RecordRead(uint32_t partition, uint64_t offset, const std::string& value, int node, const char* what);
  std::map<uint32_t, uint64_t> Leaders();
  void Finish();
  void Check();
  bool Holds(size_t node, uint32_t partition) const {
    std::lock_guard lock(replicas_mu_);
    const auto& r = replicas_[partition];
    return std::find(r.begin(), r.end(), node) != r.end();
  }
  std::vector<size_t> ReplicasOf(uint32_t partition) const {
    std::lock_guard lock(replicas_mu_);
    return replicas_[partition];
  }
  // Reads which nodes hold each partition (GetMetadata at any node that answers).
  absl::Status LoadReplicas();
  // Calls `call(admin stub)` at each node until one answers other than UNAVAILABLE (the controller).
  grpc::Status AtController(const std::function<grpc::Status(v1::Admin::Stub&)>& call);
  // Before the final read: waits (up to 60 s) until no move runs, then reloads the replicas.
  void WaitForMoves();

  // ---- nemesis helpers (nemesis thread only) ----
  struct Active {
    bool combined = false;  // two faults at once
    std::vector<uint64_t> down;
    std::vector<uint64_t> paused;
    std::vector<std::string> what;
  };
  void MoveReplica(std::mt19937_64& rng, Active& act);
  // kReplaceNode (decommission and re-add), and stopping the nodes the cluster has removed since.
  void ReplaceNode(std::mt19937_64& rng, Active& act);
  void RetireRemoved();
  bool Member(uint64_t id) const {
    return id <= static_cast<uint64_t>(o_.nodes) + joined_ && !retired_.contains(id);
  }
  uint64_t PickLive(std::mt19937_64& rng, const Active& act);
  uint64_t LeaderOrLive(std::mt19937_64& rng, const Active& act);
  void Kill(uint64_t id, Active& act, bool power, bool failover, std::mt19937_64& rng);
  void Apply(Fault f, Active& act, std::mt19937_64& rng);
  void Heal(Active& act);
  void CheckCrashes();
  void Block(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

  const FaultOptions o_;
  const Clock::time_point start_;
  FaultReport report_;
  std::mutex examples_mu_;

  std::string sync_dir_;
  std::unique_ptr<FaultNet> net_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<v1::Log::Stub>> log_;
  std::vector<std::unique_ptr<v1::Admin::Stub>> admin_;

  std::atomic<bool> stop_producers_{false};
  std::atomic<bool> stop_consumers_{false};
  std::atomic<bool> harness_failed_{false};
  std::string harness_error_;
  std::vector<std::vector<Op>> ops_;  // per producer thread (+1: the final liveness probes)

  // Every value ever sent -> (producer thread, op index). Filled before the send.
  std::mutex values_mu_;
  std::unordered_map<std::string, std::pair<int, size_t>> values_;

  // Every read: partition -> offset -> first value served there, and value -> first offset it was served at.
  struct Reads {
    std::mutex mu;
    std::vector<std::string> at;
    std::unordered_map<std::string, uint64_t> where;
    std::set<uint64_t> disagree;
    std::set<std::string> duplicated;
  };
  std::vector<std::unique_ptr<Reads>> reads_;
  std::atomic<int64_t> fetches_{0}, records_read_{0}, backwards_{0}, gaps_{0}, phantoms_{0};
  std::atomic<int64_t> bad_receipts_{0}, producer_restarts_{0};

  // Kills of partition leaders, for failover times: (partition, ms).
  std::mutex kills_mu_;
  struct LeaderKill {
    uint32_t partition;
    int64_t at_ms;
    bool combined;
  };
  std::vector<LeaderKill> leader_kills_;
  std::set<uint64_t> paused_now_;  // nemesis thread only; Leaders() skips paused nodes
  std::set<uint64_t> down_now_;
  int moves_started_ = 0;        // nemesis thread, then Finish
  uint64_t joined_ = 0;          // spare slots that joined (nemesis thread, then Finish)
  std::set<uint64_t> draining_;  // replaced nodes the cluster has not removed yet
  std::set<uint64_t> retired_;   // removed by the cluster and stopped for good

  std::vector<uint64_t> ends_;  // per partition: the end of the log after the final probes
  mutable std::mutex replicas_mu_;
  std::vector<std::vector<size_t>> replicas_;  // per partition: indexes of the nodes that hold it (replicas_mu_)
  // Final logs: node index -> partition -> values by offset.
  std::vector<std::vector<std::vector<std::string>>> final_;
};

absl::Status Runner::StartCluster() {
  char tmpl[] = "/tmp/brook-fault-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  sync_dir_ = tmpl;
  std::string tracker = BROOK_SYNC_TRACKER_PATH;
  if (const char* env = std::getenv("BROOK_SYNC_TRACKER"); env != nullptr) tracker = env;
  if (!std::filesystem::exists(tracker)) {
    return absl::FailedPreconditionError(absl::StrCat("sync tracker library not found at '", tracker, "'"));
  }
  net_ = std::make_unique<FaultNet>();
  ClusterOptions co;
  co.nodes = o_.nodes;
  co.spare_nodes = o_.spare_nodes;
  co.tick_ms = o_.tick_ms;
  co.election_ticks = o_.election_ticks;
  co.extra_flags = {absl::StrCat("--unsafe_break=", o_.unsafe_break), "--per_partition_metrics=false"};
  absl::Status route_error;
  co.route = [&](uint64_t from, uint64_t to, const std::string& peer) {
    auto a = net_->AddLink(from, to, peer);
    if (!a.ok()) {
      route_error = a.status();
      return peer;
    }
    return *a;
  };
  co.environment = [this, tracker](uint64_t id) {
    return std::vector<std::string>{absl::StrCat("LD_PRELOAD=", tracker),
                                    absl::StrCat("BROOK_SYNC_LOG=", sync_dir_, "/node", id, ".synclog")};
  };
  auto c = Cluster::Start(co, std::chrono::seconds(60));
  if (!route_error.ok()) return route_error;
  if (!c.ok()) return c.status();
  cluster_ = std::move(*c);
  grpc::ChannelArguments args;
  // Reconnect quickly to restarted nodes: the default backoff grows to minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  for (const auto& n : cluster_->nodes()) {
    auto channel = grpc::CreateCustomChannel(n.client_address, grpc::InsecureChannelCredentials(), args);
    addresses_.push_back(n.client_address);
    log_.push_back(v1::Log::NewStub(channel));
    admin_.push_back(v1::Admin::NewStub(channel));
  }
  return absl::OkStatus();
}

absl::Status Runner::CreateTopic() {
  // Created before any fault, through the integration tests' client (it follows NotLeader and waits until every
  // partition has a leader).
  RawClient setup(addresses_);
  grpc::Status created = setup.CreateTopic(kTopic, o_.partitions, o_.replication, std::chrono::seconds(30));
  if (!created.ok()) return absl::UnavailableError(absl::StrCat("CreateTopic: ", created.error_message()));
  return LoadReplicas();
}

absl::Status Runner::LoadReplicas() {
  // Which nodes hold which partition (with replication below the node count, not all of them).
  v1::GetMetadataResponse resp;
  grpc::Status s;
  for (size_t n = 0; n < admin_.size(); ++n) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(5000));
    v1::GetMetadataRequest req;
    req.add_topics(kTopic);
    resp.Clear();
    s = admin_[n]->GetMetadata(&ctx, req, &resp);
    if (s.ok() && resp.topics_size() == 1) break;
  }
  if (!s.ok() || resp.topics_size() != 1) {
    return absl::UnavailableError(absl::StrCat("GetMetadata: ", s.error_message()));
  }
  std::vector<std::vector<size_t>> replicas(o_.partitions);
  for (const auto& p : resp.topics(0).partitions()) {
    if (p.partition() >= o_.partitions) continue;
    for (uint64_t id : p.replicas()) replicas[p.partition()].push_back(id - 1);
  }
  for (uint32_t p = 0; p < o_.partitions; ++p) {
    if (replicas[p].size() != o_.replication) {
      return absl::InternalError(
          absl::StrCat("partition ", p, " has ", replicas[p].size(), " replicas, not ", o_.replication));
    }
  }
  std::lock_guard lock(replicas_mu_);
  replicas_ = std::move(replicas);
  return absl::OkStatus();
}

grpc::Status Runner::AtController(const std::function<grpc::Status(v1::Admin::Stub&)>& call) {
  grpc::Status s(grpc::StatusCode::UNAVAILABLE, "no node answered");
  for (size_t n = 0; n < admin_.size(); ++n) {
    if (!cluster_->Running(n + 1) || paused_now_.contains(n + 1)) continue;
    s = call(*admin_[n]);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
      return s;
  }
  return s;
}

void Runner::MoveReplica(std::mt19937_64& rng, Active& act) {
  const uint32_t p = static_cast<uint32_t>(rng() % o_.partitions);
  std::vector<size_t> to = ReplicasOf(p);
  std::vector<size_t> spare;
  for (size_t n = 0; n < addresses_.size(); ++n) {
    if (Member(n + 1) && !draining_.contains(n + 1) && std::find(to.begin(), to.end(), n) == to.end()) {
      spare.push_back(n);
    }
  }
  if (spare.empty()) return;
  const size_t slot = rng() % to.size();
  const size_t from = to[slot];
  to[slot] = spare[rng() % spare.size()];
  v1::MoveReplicasRequest req;
  req.set_topic(kTopic);
  req.set_partition(p);
  for (size_t n : to) req.add_replicas(n + 1);
  grpc::Status s = AtController([&](v1::Admin::Stub& admin) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(2000));
    v1::MoveReplicasResponse resp;
    return admin.MoveReplicas(&ctx, req, &resp);
  });
  act.what.push_back(absl::StrCat("move_replica p", p, " n", from + 1, " -> n", to[slot] + 1,
                                  s.ok() ? "" : absl::StrCat(" (", s.error_message(), ")")));
  if (!s.ok()) return;
  ++moves_started_;
  std::lock_guard lock(replicas_mu_);
  replicas_[p] = to;  // consumers read from the new set; the final check reloads it once moves are done
}

void Runner::ReplaceNode(std::mt19937_64& rng, Active& act) {
  const uint64_t spare = static_cast<uint64_t>(o_.nodes) + joined_ + 1;
  if (joined_ >= static_cast<uint64_t>(o_.spare_nodes)) return;  // no slot left
  std::vector<uint64_t> live;
  for (uint64_t id = 1; id < spare; ++id) {
    if (Member(id) && !draining_.contains(id) && cluster_->Running(id) && !paused_now_.contains(id)) {
      live.push_back(id);
    }
  }
  if (live.size() < 2) return;
  const uint64_t victim = live[rng() % live.size()];
  const uint64_t via = live[(std::find(live.begin(), live.end(), victim) - live.begin() + 1) % live.size()];
  auto joined = cluster_->Join(spare, via, std::chrono::seconds(30));
  if (!joined.ok()) {
    report_.live = false;
    Example(absl::StrCat("n", spare, " did not join through n", via, " within 30 s: ", joined.message()));
    harness_failed_.store(true);
    harness_error_ = absl::StrCat("join of n", spare, ": ", joined.message());
    return;
  }
  ++joined_;
  v1::DecommissionNodeRequest req;
  req.set_node_id(victim);
  req.set_replacement_node_id(spare);
  grpc::Status s = AtController([&](v1::Admin::Stub& admin) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(2000));
    v1::DecommissionNodeResponse resp;
    return admin.DecommissionNode(&ctx, req, &resp);
  });
  act.what.push_back(absl::StrCat("replace_node n", victim, " -> n", spare, " (joined)",
                                  s.ok() ? "" : absl::StrCat(" (", s.error_message(), ")")));
  if (!s.ok()) return;
  ++moves_started_;
  draining_.insert(victim);
  std::lock_guard lock(replicas_mu_);  // consumers read from the new node at once (as after move_replica)
  for (auto& replicas : replicas_) std::replace(replicas.begin(), replicas.end(), victim - 1, spare - 1);
}

void Runner::RetireRemoved() {
  if (draining_.empty()) return;
  v1::DescribeClusterResponse cluster;
  grpc::Status s = AtController([&](v1::Admin::Stub& admin) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(2000));
    return admin.DescribeCluster(&ctx, v1::DescribeClusterRequest(), &cluster);
  });
  if (!s.ok()) return;
  for (const auto& n : cluster.nodes()) {
    if (!draining_.contains(n.id()) || n.state() != v1::NODE_REMOVED) continue;
    if (cluster_->Running(n.id())) (void)cluster_->Kill(n.id());
    (void)cluster_->Resume(n.id());
    draining_.erase(n.id());
    retired_.insert(n.id());
    paused_now_.erase(n.id());
    down_now_.insert(n.id());  // Leaders() asks it no more
    Say(absl::StrCat("n", n.id(), " was removed by the cluster: stopped for good"));
  }
}

void Runner::WaitForMoves() {
  if (moves_started_ == 0) return;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  int running = -1;
  while (Clock::now() < deadline) {
    v1::ListOperationsResponse ops;
    grpc::Status s = AtController([&](v1::Admin::Stub& admin) {
      grpc::ClientContext ctx;
      SetDeadline(ctx, milliseconds(2000));
      return admin.ListOperations(&ctx, v1::ListOperationsRequest(), &ops);
    });
    running = s.ok() ? ops.moves_size() : -1;
    if (running == 0) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  if (running != 0) {
    report_.live = false;
    Example(absl::StrCat("replica moves still running (or no controller answered) 60 s after the final heal"));
  }
  Say(absl::StrCat(moves_started_, " replica moves started; ",
                   running == 0 ? "all finished" : "not all finished"));
  for (int i = 0; i < 300 && !draining_.empty(); ++i) {  // a replaced node leaves once its moves are done
    RetireRemoved();
    if (!draining_.empty()) std::this_thread::sleep_for(milliseconds(200));
  }
  if (!draining_.empty()) {
    report_.live = false;
    Example(absl::StrCat(draining_.size(), " replaced nodes were not removed 60 s after their moves"));
  }
  if (auto s = LoadReplicas(); !s.ok()) Example(absl::StrCat("reloading the replicas: ", s.message()));
}

std::map<uint32_t, uint64_t> Runner::Leaders() {
  std::map<uint32_t, uint64_t> out;
  for (size_t i = 0; i < admin_.size(); ++i) {
    const uint64_t id = i + 1;
    if (paused_now_.contains(id) || down_now_.contains(id)) continue;
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(300));
    v1::GetMetadataRequest req;
    req.add_topics(kTopic);
    v1::GetMetadataResponse resp;
    if (!admin_[i]->GetMetadata(&ctx, req, &resp).ok() || resp.topics_size() == 0) continue;
    for (const auto& p : resp.topics(0).partitions()) {
      // Trust a node only about partitions it says it leads itself.
      if (p.leader_id() == id && !out.contains(p.partition())) out[p.partition()] = id;
    }
  }
  return out;
}

std::optional<std::pair<uint64_t, uint32_t>> Runner::InitProducer(const std::string& name, int& target) {
  v1::InitProducerRequest req;
  req.set_producer_name(name);
  const auto deadline = Clock::now() + o_.op_timeout;
  while (Clock::now() < deadline && !stop_producers_.load()) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(1000));
    v1::InitProducerResponse resp;
    grpc::Status s = log_[static_cast<size_t>(target)]->InitProducer(&ctx, req, &resp);
    if (s.ok()) return std::make_pair(resp.producer_id(), resp.producer_epoch());
    auto hint = Detail<v1::NotLeader>(s);
    if (hint && IndexOf(hint->leader_address()) >= 0) {
      target = IndexOf(hint->leader_address());
    } else {
      target = (target + 1) % static_cast<int>(addresses_.size());
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  return std::nullopt;
}

Op Runner::Produce(uint32_t partition, uint64_t producer_id, uint32_t producer_epoch, uint64_t sequence,
                   std::vector<std::string> values, int& target, milliseconds timeout) {
  Op op;
  op.partition = partition;
  op.producer_id = producer_id;
  op.producer_epoch = producer_epoch;
  op.sequence = sequence;
  op.values = std::move(values);
  op.invoke_ms = Now();
  v1::ProduceRequest req;
  req.set_topic(kTopic);
  req.set_partition(partition);
  req.set_producer_id(producer_id);
  req.set_producer_epoch(producer_epoch);
  req.set_sequence(sequence);
  for (const auto& v : op.values) req.add_records()->set_value(v);
  const auto deadline = Clock::now() + timeout;
  bool maybe_written = false;  // some attempt may have reached a leader that proposed it
  auto backoff = milliseconds(10);
  int redirects = 0;
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, std::min<milliseconds>(
                         milliseconds(1000),
                         std::chrono::duration_cast<milliseconds>(deadline - Clock::now()) + milliseconds(1)));
    v1::ProduceResponse resp;
    grpc::Status s = log_[static_cast<size_t>(target)]->Produce(&ctx, req, &resp);
    if (s.ok()) {
      op.outcome = Outcome::kOk;
      op.base_offset = resp.base_offset();
      op.complete_ms = Now();
      // Acknowledged means committed: synced on a majority. A receipt that promises less is a lie.
      if (resp.receipt().synced_replicas() * 2 <= resp.receipt().replicas()) {
        bad_receipts_.fetch_add(1);
        Example(absl::StrCat("produce acknowledged at partition ", partition, " offset ", resp.base_offset(),
                             " with a receipt of ", resp.receipt().synced_replicas(), " synced replicas of ",
                             resp.receipt().replicas(), " (term ", resp.receipt().term(), ")"));
      }
      return op;
    }
    op.last_error = absl::StrCat(s.error_code(), " ", s.error_message());
    auto hint = Detail<v1::NotLeader>(s);
    const auto code = s.error_code();
    // What the server says happened (WriteOutcome); an answer without it (a deadline, a dropped connection,
    // CANCELLED) may have been written.
    auto outcome = Detail<v1::WriteOutcome>(s);
    const bool refused = outcome.has_value() && outcome->outcome() == v1::WriteOutcome::NOT_WRITTEN;
    if (!refused) maybe_written = true;
    if (code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::NOT_FOUND ||
        code == grpc::StatusCode::FAILED_PRECONDITION) {
      break;  // a retry cannot succeed
    }
    if (hint && IndexOf(hint->leader_address()) >= 0 && IndexOf(hint->leader_address()) != target &&
        redirects < 3) {
      target = IndexOf(hint->leader_address());
      ++redirects;
      continue;
    }
    redirects = 0;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, milliseconds(200));
    if (!hint || hint->leader_address().empty()) {
      target = (target + 1) % static_cast<int>(addresses_.size());
    }
  }
  op.complete_ms = Now();
  op.outcome = maybe_written ? Outcome::kUnknown : Outcome::kFailed;
  return op;
}

void Runner::Producer(int index) {
  std::mt19937_64 rng(o_.seed * 1'000'003 + static_cast<uint64_t>(index));
  const uint32_t partition = static_cast<uint32_t>(index) % o_.partitions;
  const std::string name = absl::StrCat("fault-producer-", index);
  int init_target = index % static_cast<int>(addresses_.size());
  uint64_t producer_id = 0;
  uint32_t epoch = 0;
  // (Re)starts this producer under its name: the new epoch fences every earlier instance's writes. When no
  // controller answers in time, an anonymous random id (top bit clear: never an assigned one) stands in.
  auto restart = [&] {
    if (auto identity = InitProducer(name, init_target)) {
      std::tie(producer_id, epoch) = *identity;
      producer_restarts_.fetch_add(1);
    } else {
      producer_id = (rng() | 1) & ~(uint64_t{1} << 63);
      epoch = 0;
    }
  };
  restart();
  uint64_t sequence = 0;
  uint64_t counter = 0;
  int target = index % static_cast<int>(addresses_.size());
  auto& ops = ops_[static_cast<size_t>(index)];
  while (!stop_producers_.load()) {
    const int n = 1 + static_cast<int>(rng() % static_cast<uint64_t>(o_.max_records_per_batch));
    std::vector<std::string> values;
    {
      std::lock_guard lock(values_mu_);
      for (int i = 0; i < n; ++i) {
        std::string v = absl::StrCat("p", index, "-", counter++, "-");
        v.resize(std::max<size_t>(v.size(), static_cast<size_t>(o_.value_bytes)), '.');
        values_[v] = {index, ops.size()};
        values.push_back(std::move(v));
      }
    }
    Op op = Produce(partition, producer_id, epoch, sequence, std::move(values), target, o_.op_timeout);
    const bool unknown_producer = op.last_error.find("does not remember producer") != std::string::npos;
    switch (op.outcome) {
      case Outcome::kOk:
        sequence += static_cast<uint64_t>(n);
        break;
      case Outcome::kUnknown:
        // The batch may still be written. Its sequence can be neither reused nor skipped: restart under the name
        // (the old instance's retries are fenced from then on) at sequence 0.
        restart();
        sequence = 0;
        break;
      case Outcome::kFailed:
        // Certainly not written: the next batch takes the same sequence, unless the partition forgot us.
        if (unknown_producer) {
          restart();
          sequence = 0;
        }
        break;
    }
    if (op.outcome == Outcome::kOk && rng() % 64 == 0) {
      restart();  // a process restart under the same name, mid-run
      sequence = 0;
    }
    ops.push_back(std::move(op));
  }
}

void Runner::RecordRead(uint32_t partition, uint64_t offset, const std::string& value, int node,
                        const char* what) {
  {
    std::lock_guard lock(values_mu_);
    if (!values_.contains(value)) {
      phantoms_.fetch_add(1);
      Example(absl::StrCat(what, " from n", node + 1, ": partition ", partition, " offset ", offset,
                           " holds a record nobody produced: '", value.substr(0, 40), "'"));
    }
  }
  auto& r = *reads_[partition];
  std::lock_guard lock(r.mu);
  if (r.at.size() <= offset) r.at.resize(offset + 1);
  if (r.at[offset].empty()) {
    r.at[offset] = value;
  } else if (r.at[offset] != value) {
    if (r.disagree.insert(offset).second) {
      Example(absl::StrCat(what, " from n", node + 1, ": partition ", partition, " offset ", offset, " read as '",
                           value.substr(0, 24), "' but earlier as '", r.at[offset].substr(0, 24), "'"));
    }
  }
  auto [it, fresh] = r.where.emplace(value, offset);
  if (!fresh && it->second != offset && r.duplicated.insert(value).second) {
    Example(absl::StrCat(what, " from n", node + 1, ": record '", value.substr(0, 24), "' of partition ",
                         partition, " read at offsets ", it->second, " and ", offset));
  }
}

void Runner::Consumer(int index) {
  std::mt19937_64 rng(o_.seed * 7'000'003 + static_cast<uint64_t>(index));
  const uint32_t partition = static_cast<uint32_t>(index) % o_.partitions;
  auto pick = [&] {
    const std::vector<size_t> replicas = ReplicasOf(partition);
    return static_cast<int>(replicas[rng() % replicas.size()]);
  };
  int node = pick();
  uint64_t position = 0;
  int fetches_here = 0;
  while (!stop_consumers_.load()) {
    if (++fetches_here > 25) {  // wander between replicas: every one of them must serve the same log
      node = pick();
      fetches_here = 0;
    }
    grpc::ClientContext ctx;
    SetDeadline(ctx, milliseconds(1000));
    v1::FetchRequest req;
    req.set_topic(kTopic);
    req.set_partition(partition);
    req.set_offset(position);
    req.set_max_records(500);
    req.set_max_wait_ms(200);
    v1::FetchResponse resp;
    grpc::Status s = log_[static_cast<size_t>(node)]->Fetch(&ctx, req, &resp);
    fetches_.fetch_add(1);
    if (!s.ok()) {
      // A replica behind our position (OUT_OF_RANGE), down, paused or cut off: try another one soon.
      fetches_here = 100;
      std::this_thread::sleep_for(milliseconds(20));
      continue;
    }
    if (resp.has_gap()) {
      gaps_.fetch_add(1);
      Example(absl::StrCat("n", node + 1, " answered partition ", partition, " offset ", position,
                           " with a TRIMMED gap to ", resp.gap().end_offset(), " (no retention is configured)"));
      position = std::max(position, resp.gap().end_offset());
      continue;
    }
    uint64_t expect = position;
    for (const auto& r : resp.records()) {
      if (r.offset() != expect) {
        backwards_.fetch_add(1);
        Example(absl::StrCat("n", node + 1, " answered a fetch of partition ", partition, " at ", position,
                             " with offset ", r.offset(), " where ", expect, " was due"));
        break;
      }
      RecordRead(partition, r.offset(), r.value(), node, "a consumer's read");
      records_read_.fetch_add(1);
      ++expect;
    }
    if (resp.next_offset() < position) {
      backwards_.fetch_add(1);
      Example(absl::StrCat("n", node + 1, " answered partition ", partition, " at ", position,
                           " with next_offset ", resp.next_offset()));
    }
    position = std::max(expect, position);
  }
}

uint64_t Runner::PickLive(std::mt19937_64& rng, const Active& act) {
  std::vector<uint64_t> live;
  for (const auto& n : cluster_->nodes()) {
    if (cluster_->Running(n.id) && std::find(act.paused.begin(), act.paused.end(), n.id) == act.paused.end())
      live.push_back(n.id);
  }
  if (live.empty()) return 0;
  return live[rng() % live.size()];
}

uint64_t Runner::LeaderOrLive(std::mt19937_64& rng, const Active& act) {
  const uint32_t p = static_cast<uint32_t>(rng() % o_.partitions);
  auto leaders = Leaders();
  auto it = leaders.find(p);
  if (it != leaders.end() && cluster_->Running(it->second) &&
      std::find(act.paused.begin(), act.paused.end(), it->second) == act.paused.end()) {
    return it->second;
  }
  return PickLive(rng, act);
}

void Runner::Kill(uint64_t id, Active& act, bool power, bool failover, std::mt19937_64& rng) {
  // Failover is measured where one is possible: not when the whole cluster is down.
  auto leaders = failover ? Leaders() : std::map<uint32_t, uint64_t>();
  const int64_t at = Now();
  if (!cluster_->Kill(id).ok()) return;
  {
    std::lock_guard lock(kills_mu_);
    for (const auto& [p, leader] : leaders) {
      if (leader == id) leader_kills_.push_back(LeaderKill{p, at, act.combined});
    }
  }
  act.down.push_back(id);
  down_now_.insert(id);
  std::erase(act.paused, id);
  paused_now_.erase(id);
  if (power) {
    auto cut = CutPower(absl::StrCat(sync_dir_, "/node", id, ".synclog"), cluster_->node(id).data_dir,
                        o_.torn_writes, rng);
    if (!cut.ok()) {
      harness_failed_.store(true);
      harness_error_ = std::string(cut.status().message());
      return;
    }
    act.what.push_back(
        absl::StrCat("n", id, " lost ", cut->bytes_dropped, " unsynced bytes in ", cut->files_cut, " files"));
  }
}

void Runner::Block(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  for (uint64_t x : a) {
    for (uint64_t y : b) {
      net_->SetBlocked(x, y, true);
      net_->SetBlocked(y, x, true);
    }
  }
}

void Runner::Apply(Fault f, Active& act, std::mt19937_64& rng) {
  // The members: spare slots that have not joined and nodes the cluster removed take no faults. (A joined node's
  // peers reach it directly, not through the fault proxies: network faults cut only the initial nodes' links.)
  std::vector<uint64_t> ids;
  for (const auto& n : cluster_->nodes()) {
    if (Member(n.id)) ids.push_back(n.id);
  }
  auto others = [&](uint64_t x) {
    std::vector<uint64_t> out;
    for (uint64_t y : ids) {
      if (y != x) out.push_back(y);
    }
    return out;
  };
  switch (f) {
    case Fault::kKill:
    case Fault::kKillLeader:
    case Fault::kPowerFail: {
      uint64_t id = f == Fault::kKill ? PickLive(rng, act) : LeaderOrLive(rng, act);
      if (f == Fault::kPowerFail && rng() % 2 == 0) id = LeaderOrLive(rng, act);
      if (id == 0) return;
      Kill(id, act, f == Fault::kPowerFail, /*failover=*/true, rng);
      act.what.push_back(absl::StrCat(FaultName(f), " n", id));
      return;
    }
    case Fault::kPowerFailAll: {
      for (uint64_t id : ids) {
        if (cluster_->Running(id)) Kill(id, act, /*power=*/true, /*failover=*/false, rng);
      }
      act.what.push_back("power_fail_all");
      return;
    }
    case Fault::kPause:
    case Fault::kPauseLeader: {
      uint64_t id = f == Fault::kPause ? PickLive(rng, act) : LeaderOrLive(rng, act);
      if (id == 0 || !cluster_->Pause(id).ok()) return;
      act.paused.push_back(id);
      paused_now_.insert(id);
      act.what.push_back(absl::StrCat(FaultName(f), " n", id));
      return;
    }
    case Fault::kRestart: {
      uint64_t id = PickLive(rng, act);
      if (id == 0) return;
      auto s = cluster_->Terminate(id, milliseconds(15000));
      act.down.push_back(id);
      down_now_.insert(id);
      act.what.push_back(absl::StrCat("restart n", id, s.ok() ? "" : absl::StrCat(" (", s.message(), ")")));
      if (!s.ok()) {
        report_.crashes++;  // a graceful stop must end with exit 0 within the shutdown timeout
        Example(absl::StrCat("graceful stop of n", id, " failed: ", s.message(), "; its log ends:\n",
                             cluster_->LogTail(id, 8)));
      }
      return;
    }
    case Fault::kPartition: {
      std::shuffle(ids.begin(), ids.end(), rng);
      const size_t minority = (ids.size() - 1) / 2;
      std::vector<uint64_t> small(ids.begin(), ids.begin() + static_cast<long>(minority));
      std::vector<uint64_t> big(ids.begin() + static_cast<long>(minority), ids.end());
      Block(small, big);
      act.what.push_back(
          absl::StrCat("partition {", absl::StrJoin(small, ","), "} | {", absl::StrJoin(big, ","), "}"));
      break;
    }
    case Fault::kIsolateLeader: {
      uint64_t id = LeaderOrLive(rng, act);
      if (id == 0) id = ids[rng() % ids.size()];
      Block({id}, others(id));
      act.what.push_back(absl::StrCat("isolate_leader n", id));
      break;
    }
    case Fault::kOneWay: {
      uint64_t id = rng() % 2 == 0 ? LeaderOrLive(rng, act) : ids[rng() % ids.size()];
      if (id == 0) id = ids[rng() % ids.size()];
      const bool outgoing = rng() % 2 == 0;
      for (uint64_t y : others(id)) net_->SetBlocked(outgoing ? id : y, outgoing ? y : id, true);
      act.what.push_back(absl::StrCat("one_way: n", id, outgoing ? " cannot send" : " cannot receive"));
      break;
    }
    case Fault::kMoveReplica:
      MoveReplica(rng, act);
      return;
    case Fault::kReplaceNode:
      ReplaceNode(rng, act);
      return;
    case Fault::kTransferLeader: {
      const uint32_t p = static_cast<uint32_t>(rng() % o_.partitions);
      auto leaders = Leaders();
      auto it = leaders.find(p);
      const std::vector<size_t> replicas = ReplicasOf(p);
      if (it == leaders.end() || replicas.size() < 2) return;
      std::vector<uint64_t> targets;
      for (size_t r : replicas) {
        if (r + 1 != it->second) targets.push_back(r + 1);
      }
      const uint64_t target = targets[rng() % targets.size()];
      grpc::ClientContext ctx;
      SetDeadline(ctx, milliseconds(3000));
      v1::TransferLeadershipRequest req;
      req.set_topic(kTopic);
      req.set_partition(p);
      req.set_target_node_id(target);
      v1::TransferLeadershipResponse resp;
      grpc::Status s = admin_[it->second - 1]->TransferLeadership(&ctx, req, &resp);
      act.what.push_back(absl::StrCat("transfer_leader p", p, " n", it->second, " -> n", target,
                                      s.ok() ? "" : absl::StrCat(" (", s.error_message(), ")")));
      return;
    }
    case Fault::kBridge: {
      std::shuffle(ids.begin(), ids.end(), rng);
      const uint64_t bridge = ids[0];
      std::vector<uint64_t> rest(ids.begin() + 1, ids.end());
      const size_t half = rest.size() / 2;
      std::vector<uint64_t> left(rest.begin(), rest.begin() + static_cast<long>(half));
      std::vector<uint64_t> right(rest.begin() + static_cast<long>(half), rest.end());
      Block(left, right);
      act.what.push_back(absl::StrCat("bridge n", bridge, " between {", absl::StrJoin(left, ","), "} and {",
                                      absl::StrJoin(right, ","), "}"));
      break;
    }
  }
  // Network faults: half of the time the cut also resets the connections that cross it, like a middlebox would.
  if (rng() % 2 == 0) {
    for (uint64_t x : ids) {
      for (uint64_t y : ids) {
        if (x < y && (net_->Blocked(x, y) || net_->Blocked(y, x))) net_->ResetConnections(x, y);
      }
    }
  }
}

void Runner::CheckCrashes() {
  for (const auto& n : cluster_->nodes()) {
    auto alive = cluster_->CheckAlive(n.id);
    if (alive.ok()) continue;
    report_.crashes++;
    Example(absl::StrCat(alive.message(), " on its own; its log ends:\n", cluster_->LogTail(n.id, 8)));
    if (auto s = cluster_->Restart(n.id); !s.ok()) {
      harness_failed_.store(true);
      harness_error_ = absl::StrCat("restart of crashed n", n.id, ": ", s.message());
    }
  }
}

void Runner::Heal(Active& act) {
  CheckCrashes();  // before the restarts below: a node this fault killed is not running, not crashed
  net_->HealAll();
  for (uint64_t id : act.paused) {
    (void)cluster_->Resume(id);
    paused_now_.erase(id);
  }
  for (uint64_t id : act.down) {
    if (cluster_->Running(id)) continue;
    if (auto s = cluster_->Restart(id); !s.ok()) {
      harness_failed_.store(true);
      harness_error_ = absl::StrCat("restart of n", id, ": ", s.message());
    }
    down_now_.erase(id);
  }
  act = Active();
  RetireRemoved();
}

void Runner::Nemesis() {
  std::mt19937_64 rng(o_.seed);
  auto uniform = [&](milliseconds lo, milliseconds hi) {
    return lo + milliseconds(rng() % static_cast<uint64_t>(std::max<int64_t>(1, (hi - lo).count() + 1)));
  };
  const auto end = start_ + o_.duration;
  std::vector<Fault> process, network;
  for (Fault f : o_.faults) (IsNetwork(f) ? network : process).push_back(f);
  while (!harness_failed_.load()) {
    std::this_thread::sleep_for(uniform(o_.min_quiet, o_.max_quiet));
    const auto length = uniform(o_.min_fault, o_.max_fault);
    if (Clock::now() + length > end) break;
    const Fault first = o_.faults[rng() % o_.faults.size()];
    std::optional<Fault> second;
    const auto& partners = IsNetwork(first) ? process : network;
    if (!partners.empty() && first != Fault::kPowerFailAll &&
        static_cast<double>(rng() % 1000) < o_.combine_probability * 1000) {
      Fault f = partners[rng() % partners.size()];
      if (f != Fault::kPowerFailAll) second = f;
    }
    Active act;
    act.combined = second.has_value();
    FaultEvent ev;
    ev.start_ms = Now();
    // Process faults first, so that a network fault aimed at "the leader" finds the leader that is left.
    if (second && !IsNetwork(*second)) {
      Apply(*second, act, rng);
      Apply(first, act, rng);
    } else {
      Apply(first, act, rng);
      if (second) Apply(*second, act, rng);
    }
    report_.faults_by_kind[FaultName(first)]++;
    if (second) {
      report_.faults_by_kind[FaultName(*second)]++;
      report_.combined_faults++;
    }
    ev.description = absl::StrJoin(act.what, " + ");
    Say(absl::StrCat("fault: ", ev.description, " for ", length.count(), " ms"));
    std::this_thread::sleep_for(length);
    Heal(act);
    ev.end_ms = Now();
    Say("healed");
    report_.events.push_back(std::move(ev));
  }
}

void Runner::Finish() {
  // Every node is running and connected again (the nemesis heals each fault before it stops).
  CheckCrashes();
  WaitForMoves();
  const int64_t healed = Now();
  std::vector<Op> probes;
  int target = 0;
  auto deadline = Clock::now() + std::chrono::seconds(45);
  std::mt19937_64 rng(o_.seed + 99);
  for (uint32_t p = 0; p < o_.partitions; ++p) {
    std::string v = absl::StrCat("probe-", p);
    {
      std::lock_guard lock(values_mu_);
      values_[v] = {o_.producers, probes.size()};
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Op op = Produce(p, (rng() | 1) & ~(uint64_t{1} << 63), 0, 0, {v}, target, std::max(left, milliseconds(1)));
    if (op.outcome != Outcome::kOk) {
      report_.live = false;
      Example(
          absl::StrCat("partition ", p, " accepted no produce within 45 s of the final heal: ", op.last_error));
    }
    probes.push_back(std::move(op));
  }
  report_.recovery_ms = Now() - healed;
  ops_[static_cast<size_t>(o_.producers)] = std::move(probes);

  // The log of each partition ends at the probe's end (nothing is produced after it). Read it whole from every
  // node: each must serve exactly the same records.
  std::vector<uint64_t>& ends = ends_;
  ends.assign(o_.partitions, 0);
  for (const auto& op : ops_[static_cast<size_t>(o_.producers)]) {
    if (op.outcome == Outcome::kOk) ends[op.partition] = op.base_offset + op.values.size();
  }
  // A partition whose probe failed (reported above): read up to its last acknowledgement instead.
  for (size_t producer = 0; producer < static_cast<size_t>(o_.producers); ++producer) {
    for (const auto& op : ops_[producer]) {
      if (op.outcome == Outcome::kOk) {
        ends[op.partition] = std::max<uint64_t>(ends[op.partition], op.base_offset + op.values.size());
      }
    }
  }
  final_.assign(addresses_.size(), std::vector<std::vector<std::string>>(o_.partitions));
  // Reads go round the replicas so one that is stuck does not hold up the others. A replica that serves nothing
  // new for 30 s has not converged (long soaks have millions of records to read: only stalls count).
  auto stalled_at = Clock::now() + std::chrono::seconds(30);
  const auto until = Clock::now() + std::chrono::minutes(30);
  std::vector<std::vector<std::string>> errors(addresses_.size(), std::vector<std::string>(o_.partitions));
  std::vector<std::vector<bool>> done(addresses_.size(), std::vector<bool>(o_.partitions, false));
  bool pending = true;
  while (pending && Clock::now() < until && Clock::now() < stalled_at) {
    pending = false;
    for (size_t n = 0; n < addresses_.size(); ++n) {
      for (uint32_t p = 0; p < o_.partitions; ++p) {
        auto& log = final_[n][p];
        if (!Holds(n, p) || done[n][p] || log.size() >= ends[p]) continue;
        pending = true;
        grpc::ClientContext ctx;
        SetDeadline(ctx, milliseconds(1000));
        v1::FetchRequest req;
        req.set_topic(kTopic);
        req.set_partition(p);
        req.set_offset(log.size());
        req.set_max_records(5000);
        req.set_max_wait_ms(100);
        v1::FetchResponse resp;
        grpc::Status s = log_[n]->Fetch(&ctx, req, &resp);
        if (!s.ok()) {
          errors[n][p] = s.error_message();
          continue;
        }
        if (resp.has_gap()) {
          gaps_.fetch_add(1);
          done[n][p] = true;
          continue;
        }
        for (const auto& r : resp.records()) {
          if (r.offset() >= ends[p]) break;
          if (r.offset() != log.size()) {
            backwards_.fetch_add(1);
            done[n][p] = true;
            break;
          }
          RecordRead(p, r.offset(), r.value(), static_cast<int>(n), "the final read");
          log.push_back(r.value());
          stalled_at = Clock::now() + std::chrono::seconds(30);
        }
      }
    }
    if (pending) std::this_thread::sleep_for(milliseconds(20));
  }
  for (size_t n = 0; n < addresses_.size(); ++n) {
    for (uint32_t p = 0; p < o_.partitions; ++p) {
      if (!Holds(n, p) || final_[n][p].size() >= ends[p]) continue;
      report_.converged = false;
      Example(absl::StrCat("n", n + 1, " served only ", final_[n][p].size(), " of the ", ends[p],
                           " records of partition ", p, " (nothing new for 30 s)",
                           errors[n][p].empty() ? "" : absl::StrCat(" (", errors[n][p], ")"), "; its log ends:\n",
                           cluster_->LogTail(n + 1, 5)));
    }
  }
}

void Runner::Check() {
  report_.fetches = fetches_.load();
  report_.records_read = records_read_.load();
  report_.backwards = backwards_.load();
  report_.phantoms = phantoms_.load();
  report_.unexpected_gaps = gaps_.load();
  report_.bad_receipts = bad_receipts_.load();
  report_.producer_restarts = producer_restarts_.load();
  for (const auto& r : reads_) {
    report_.disagreements += static_cast<int64_t>(r->disagree.size());
    report_.duplicates += static_cast<int64_t>(r->duplicated.size());
  }
  // A partition's records are judged on its replicas that served its log whole (one that did not is reported as
  // not converged, and what it did serve was compared with everything else read); if none did, on all replicas.
  std::vector<std::vector<size_t>> judged(o_.partitions);
  for (uint32_t p = 0; p < o_.partitions; ++p) {
    for (size_t n : ReplicasOf(p)) {
      if (final_[n][p].size() >= ends_[p]) judged[p].push_back(n);
    }
    if (judged[p].empty()) judged[p] = ReplicasOf(p);
  }
  // Where each value is in each node's final log.
  std::vector<std::unordered_map<std::string, uint64_t>> position(final_.size());
  for (size_t n = 0; n < final_.size(); ++n) {
    for (uint32_t p = 0; p < o_.partitions; ++p) {
      const auto& log = final_[n][p];
      for (uint64_t off = 0; off < log.size(); ++off) position[n].emplace(log[off], off);
    }
  }
  auto windows = report_.events;
  for (size_t producer = 0; producer < ops_.size(); ++producer) {
    for (const auto& op : ops_[producer]) {
      const bool probe = producer == static_cast<size_t>(o_.producers);
      if (!probe) {
        report_.produce_ops++;
        bool during = false;
        for (const auto& w : windows) during = during || (op.invoke_ms >= w.start_ms && op.invoke_ms <= w.end_ms);
        if (during) report_.ops_during_faults++;
        if (during && op.outcome == Outcome::kOk) report_.ok_during_faults++;
      }
      switch (op.outcome) {
        case Outcome::kOk: {
          if (!probe) report_.produce_ok++;
          if (!probe) report_.records_acked += static_cast<int64_t>(op.values.size());
          for (size_t i = 0; i < op.values.size(); ++i) {
            const uint64_t want = op.base_offset + i;
            for (size_t n : judged[op.partition]) {
              const auto& log = final_[n][op.partition];
              if (want < log.size() && log[want] == op.values[i]) continue;
              report_.lost++;
              auto it = position[n].find(op.values[i]);
              Example(absl::StrCat("acknowledged record '", op.values[i].substr(0, 24), "' (partition ",
                                   op.partition, " offset ", want, ", acked at ", op.complete_ms, " ms) is ",
                                   it == position[n].end() ? "missing" : absl::StrCat("at offset ", it->second),
                                   " on n", n + 1));
              break;  // count a record once
            }
          }
          break;
        }
        case Outcome::kFailed:
          if (!probe) report_.produce_failed++;
          report_.failed_errors[op.last_error.substr(0, 60)]++;
          for (const auto& v : op.values) {
            for (size_t n : judged[op.partition]) {
              if (!position[n].contains(v)) continue;
              report_.failed_but_present++;
              Example(absl::StrCat("record '", v.substr(0, 24), "' of a produce that failed for certain (",
                                   op.last_error, ") is in the log of n", n + 1));
              break;
            }
          }
          break;
        case Outcome::kUnknown:
          if (!probe) report_.produce_unknown++;
          for (const auto& v : op.values) {
            if (position[judged[op.partition].front()].contains(v)) report_.records_unknown_present++;
          }
          break;
      }
    }
  }
  // Failover: from each kill of a partition's leader to the next acknowledgement on that partition.
  for (const auto& [p, at, combined] : leader_kills_) {
    int64_t next = -1;
    for (const auto& ops : ops_) {
      for (const auto& op : ops) {
        if (op.partition == p && op.outcome == Outcome::kOk && op.complete_ms > at &&
            (next < 0 || op.complete_ms < next))
          next = op.complete_ms;
      }
    }
    if (next < 0) continue;
    report_.failover_ms.push_back(next - at);
    if (!combined) report_.failover_alone_ms.push_back(next - at);
  }
}

absl::StatusOr<FaultReport> Runner::Go() {
  if (auto s = StartCluster(); !s.ok()) return s;
  if (auto s = CreateTopic(); !s.ok()) return s;
  ops_.resize(static_cast<size_t>(o_.producers) + 1);
  for (uint32_t p = 0; p < o_.partitions; ++p) reads_.push_back(std::make_unique<Reads>());
  std::vector<std::thread> producers, consumers;
  for (int i = 0; i < o_.producers; ++i) producers.emplace_back([this, i] { Producer(i); });
  for (int i = 0; i < o_.consumers; ++i) consumers.emplace_back([this, i] { Consumer(i); });
  Nemesis();
  stop_producers_.store(true);
  for (auto& t : producers) t.join();
  if (!harness_failed_.load()) Finish();
  stop_consumers_.store(true);
  for (auto& t : consumers) t.join();
  CheckCrashes();
  if (const char* hold = std::getenv("BROOK_FAULT_HOLD_S"); hold != nullptr && !report_.converged) {
    std::fprintf(stderr, "holding the cluster for %s s (BROOK_FAULT_HOLD_S) for inspection\n", hold);
    std::this_thread::sleep_for(std::chrono::seconds(std::atoi(hold)));
  }
  if (harness_failed_.load()) return absl::InternalError(absl::StrCat("harness: ", harness_error_));
  Check();
  std::error_code ec;
  if (std::getenv("BROOK_KEEP_TEST_DATA") == nullptr) std::filesystem::remove_all(sync_dir_, ec);
  return report_;
}

}  // namespace

const char* FaultName(Fault fault) {
  for (const auto& i : kFaults) {
    if (i.fault == fault) return i.name;
  }
  return "?";
}

std::vector<Fault> AllFaults() {
  std::vector<Fault> out;
  for (const auto& i : kFaults) out.push_back(i.fault);
  return out;
}

absl::StatusOr<std::vector<Fault>> ParseFaults(const std::string& names) {
  if (names == "all") return AllFaults();
  std::vector<Fault> out;
  for (absl::string_view name : absl::StrSplit(names, ',', absl::SkipEmpty())) {
    bool found = false;
    for (const auto& i : kFaults) {
      if (name == i.name) {
        out.push_back(i.fault);
        found = true;
      }
    }
    if (!found) {
      std::vector<std::string> all;
      for (const auto& i : kFaults) all.push_back(i.name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown fault '", std::string(name), "'; use all or some of: ", absl::StrJoin(all, ",")));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("no faults named");
  return out;
}

int64_t Percentile(std::vector<int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

std::string FaultReport::Summary() const {
  std::string faults;
  int total = 0;
  for (const auto& [k, n] : faults_by_kind) {
    absl::StrAppend(&faults, faults.empty() ? "" : ", ", k, " ", n);
    total += n;
  }
  const double share = ops_during_faults == 0 ? 0.0
                                              : 100.0 * static_cast<double>(ok_during_faults) /
                                                    static_cast<double>(ops_during_faults);
  std::string out = absl::StrCat(
      "seed ", seed, ": ", produce_ops, " produce operations (ok ", produce_ok, ", failed ", produce_failed,
      ", unknown ", produce_unknown, "; ", producer_restarts, " producer starts under a name), ", records_acked,
      " records acknowledged, ", records_unknown_present, " records of unknown operations present; ", fetches,
      " fetches read ", records_read, " records\n", "faults ", total, " (", faults, "), ", combined_faults,
      " of them two at once; operations invoked while a fault was active: ", ops_during_faults, ", ",
      absl::StrFormat("%.1f", share), "% acknowledged\n",
      "failover after a leader was killed: ", failover_ms.size(), " partitions, p50 ", Percentile(failover_ms, 50),
      " ms, p99 ", Percentile(failover_ms, 99), " ms, max ", Percentile(failover_ms, 100),
      " ms (kills alone: ", failover_alone_ms.size(), ", p50 ", Percentile(failover_alone_ms, 50), " ms, p99 ",
      Percentile(failover_alone_ms, 99), " ms); every partition accepted a produce ", recovery_ms,
      " ms after the final heal\n", "lost ", lost, ", duplicates ", duplicates, ", disagreements ", disagreements,
      ", backwards ", backwards, ", phantoms ", phantoms, ", failed-but-present ", failed_but_present, ", gaps ",
      unexpected_gaps, ", crashes ", crashes, ", bad receipts ", bad_receipts, ", live ", live ? "yes" : "NO",
      ", converged ", converged ? "yes" : "NO", ": ", ok() ? "OK" : "VIOLATIONS");
  // The three most common errors of the operations that failed for certain (information, not a violation).
  std::vector<std::pair<int, std::string>> errors;
  for (const auto& [e, n] : failed_errors) errors.emplace_back(n, e);
  std::sort(errors.rbegin(), errors.rend());
  for (size_t i = 0; i < errors.size() && i < 3; ++i) {
    absl::StrAppend(&out, i == 0 ? "\nfailed operations, by error: " : "; ", errors[i].first, " x ",
                    errors[i].second);
  }
  for (const auto& e : examples) absl::StrAppend(&out, "\n  ", e);
  return out;
}

absl::StatusOr<FaultReport> RunFaults(const FaultOptions& options) {
  if (options.faults.empty()) return absl::InvalidArgumentError("no faults to inject");
  if (options.partitions == 0 || options.producers < 1 || options.nodes < 1) {
    return absl::InvalidArgumentError("partitions, producers and nodes must be >= 1");
  }
  Runner runner(options);
  return runner.Go();
}

}  // namespace brook::testing
