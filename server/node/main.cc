// brookd: one node of a Brook cluster. See `brookd --help` and docs/operations.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "server/common/log.h"
#include "server/node/node.h"
#include "server/transport/peer_auth.h"

ABSL_FLAG(uint64_t, node_id, 0,
          "This node's id, >= 1, unique in the cluster and fixed for its data directory. Not with --join (the "
          "cluster gives a joining node its id).");
ABSL_FLAG(std::string, join, "",
          "host:port of any member's node-to-node port (its --peer_addr): join that running cluster instead of "
          "starting one (no --initial_members, no --node_id). The controller admits the node and gives it a new "
          "id; on later starts the data directory remembers both and --join is ignored.");
ABSL_FLAG(int, join_timeout_ms, 120000, "How long a joining node keeps asking to be admitted before it gives up.");
ABSL_FLAG(std::string, advertise_peer_addr, "",
          "host:port other nodes reach this node's --peer_addr on, when that differs (e.g. 0.0.0.0:7201 in a "
          "container); recorded by the cluster for a joining node. Default: this node's --initial_members entry, "
          "else --peer_addr.");
ABSL_FLAG(std::string, client_addr, "127.0.0.1:7101",
          "host:port to serve the public gRPC API (Log, Admin, ConsumerGroups, health, reflection) on.");
ABSL_FLAG(std::string, advertise_client_addr, "",
          "host:port that clients and other nodes are told to use for this node's API (default: --client_addr).");
ABSL_FLAG(std::string, peer_addr, "127.0.0.1:7201", "host:port to serve the node-to-node Raft transport on.");
ABSL_FLAG(std::string, metrics_addr, "127.0.0.1:7301",
          "host:port of the Prometheus metrics endpoint (/metrics); empty disables it.");
ABSL_FLAG(std::string, data_dir, "./brook-data", "Directory of this node's RocksDB database; created if missing.");
ABSL_FLAG(std::string, initial_members, "",
          "The cluster's first members as ID=PEER_HOST:PORT,... (e.g. 1=127.0.0.1:7201,2=127.0.0.1:7202,"
          "3=127.0.0.1:7203). Required on the first start; remembered in the data directory after that.");
ABSL_FLAG(std::string, cluster_id, "brook",
          "Name of the cluster; nodes refuse traffic from another cluster and data directories of another.");
ABSL_FLAG(std::string, cluster_secret_file, "",
          "File holding the cluster secret (at least 16 bytes; the same on every node, e.g. from "
          "`head -c 32 /dev/urandom | base64`). Node-to-node streams are signed with it and refused without it. "
          "Required; when empty, the secret is read from the environment variable BROOK_CLUSTER_SECRET.");
ABSL_FLAG(
    std::string, tls_cert, "",
    "PEM certificate (chain) of this node. With --tls_key and --tls_ca: TLS on the client port and mutual TLS "
    "on the node-to-node port, whose peers must present certificates of the same CA naming their node "
    "(\"node-N\"; scripts/make-certs.sh makes them). The files are re-read every 10 s: replace them to rotate "
    "certificates without a restart. Empty: plaintext (docs/security.md).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM certificates of the cluster CA (checks peers' and, later, clients' certificates).");
ABSL_FLAG(
    std::string, auth_tokens_file, "",
    "Authenticate clients by bearer token: a file of lines 'NAME sha256:HEX' (HEX: the lowercase hex SHA-256 "
    "of the token; `brook token new NAME` makes one). Clients send 'authorization: Bearer TOKEN'; the file is "
    "re-read within a second or two of a change. Calls without a valid token get UNAUTHENTICATED "
    "(docs/security.md).");
ABSL_FLAG(bool, auth_mtls, false,
          "Authenticate clients by certificate: a client certificate signed by --tls_ca names the principal by "
          "its common name. Needs --tls_cert/--tls_key/--tls_ca.");
ABSL_FLAG(
    bool, authorization, false,
    "Check ACLs (brook acl add|list|remove): every call is denied unless a rule allows it (deny by default). "
    "Needs --auth_tokens_file or --auth_mtls.");
ABSL_FLAG(std::string, superusers, "",
          "Principals (comma-separated) allowed every action whatever the ACLs say: the operators who add the "
          "first rules.");
ABSL_FLAG(
    std::string, metrics_tls_cert, "",
    "PEM certificate (chain) for the metrics endpoint: with --metrics_tls_key, --metrics_addr serves HTTPS only "
    "(the files are re-read within 10 s of a change). Empty: plain HTTP.");
ABSL_FLAG(std::string, metrics_tls_key, "", "PEM private key of --metrics_tls_cert.");
ABSL_FLAG(int, tick_ms, 50, "Length of one Raft tick in milliseconds (10..1000).");
ABSL_FLAG(int, election_ticks, 10,
          "Ticks without a leader before a follower campaigns (randomized in [n, 2n)); >= 3 x heartbeat_ticks.");
ABSL_FLAG(int, heartbeat_ticks, 2, "Ticks between leader heartbeats (>= 1).");
ABSL_FLAG(bool, quiesce_idle_groups, true,
          "Quiet idle groups: a partition with nothing to replicate stops ticking and heartbeating; one liveness "
          "beat per member per heartbeat interval stands in for all of them (docs/decisions.md D13).");
ABSL_FLAG(bool, coalesce_produces, true,
          "Concurrent plain Produces (no producer id, compression or expected offset) to one partition in one "
          "loop turn share one Raft entry; each still gets its own offsets and answer (docs/decisions.md A21).");
ABSL_FLAG(bool, direct_io_for_flush, true,
          "Write RocksDB's SST files (flushes, compactions) with O_DIRECT when the data directory's file system "
          "allows it (checked at start; buffered otherwise). Saves a kernel copy of every logged byte; the WAL "
          "is unaffected (docs/operations.md).");
ABSL_FLAG(
    bool, per_partition_metrics, true,
    "Export per-partition series (labels topic, partition). Turn off for clusters with very many partitions.");
ABSL_FLAG(
    int, retention_check_ms, 5000,
    "How often each partition's retention (topic retention_ms / retention_bytes) is enforced, in ms (>= 10).");
ABSL_FLAG(int64_t, move_max_bytes_per_sec, 32ll << 20,
          "Replica moves: log data a partition's leader sends each new replica per second while it copies, on "
          "average (the rest of the cluster's traffic is not throttled); 0 means no limit.");
ABSL_FLAG(int, leader_balance_interval_ms, 10000,
          "How often the node hands the leadership of partitions it leads back to their preferred replicas (once "
          "caught up and heard from), in ms; 0 turns the leader balancer off on this node (`brook cluster "
          "balancer pause` pauses it on every node).");
ABSL_FLAG(int, compaction_check_ms, 1000,
          "Key compaction: how often the node looks for a compacted partition due for a pass, in ms (>= 10).");
ABSL_FLAG(uint64_t, compaction_min_dirty_records, 1000,
          "Key compaction: a partition is due once the records applied since its last pass are at least this many "
          "and at least as many as that pass left (>= 1).");
ABSL_FLAG(int, compaction_max_delay_ms, 600000,
          "Key compaction: a partition with any record applied since its last pass gets a pass at least this "
          "often, in ms (>= 10).");
ABSL_FLAG(
    int, compaction_max_key_mb, 64,
    "Key compaction: memory cap of one pass's key map (key bytes + 64 per key), in MiB (>= 8); past it a pass "
    "compacts the prefix that fits and the next one goes on.");
ABSL_FLAG(std::string, unsafe_break, "none",
          "TESTS ONLY: break one safety rule on purpose so the fault-injection suite can show that its checker "
          "catches it: ack_before_commit, read_past_commit, skip_idempotence or skip_sync. Loses data.");
ABSL_FLAG(int, max_concurrent_streams, 256,
          "Client API: HTTP/2 streams (calls) one connection may have open at once (>= 1).");
ABSL_FLAG(
    int, grpc_memory_mb, 1024,
    "Client API: memory quota for all connections' gRPC buffers, in MiB (>= 16); past it calls are refused.");
ABSL_FLAG(int, max_connection_idle_ms, 600000,
          "Client API: a connection without calls for this long is closed (clients reconnect on demand).");
ABSL_FLAG(
    int, max_connection_age_ms, 3600000,
    "Client API: a connection this old is asked to go away (GOAWAY; clients reconnect); calls already running "
    "on it finish first, however long (Subscribe streams are not cut). >= 1000.");
ABSL_FLAG(int, handshake_timeout_ms, 10000,
          "Client API: a connection that has not completed its HTTP/2 handshake after this long is closed.");
ABSL_FLAG(int, max_subscriptions, 1024, "Subscribe streams this node serves at once; past it RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, subscribe_write_timeout_ms, 60000,
          "A Subscribe stream whose client leaves a message unread this long is cancelled (slow consumer).");
ABSL_FLAG(int, disk_reserve_mb, 128,
          "Free space (MiB) kept on the data directory's filesystem: below it the node refuses writes "
          "(RESOURCE_EXHAUSTED) and keeps serving reads; below half of it, it stops appending replicated entries. "
          "0 turns the guard off.");
ABSL_FLAG(int, shutdown_timeout_ms, 5000,
          "On SIGTERM: how long to hand leadership away and finish in-flight calls.");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "brookd: %s\n", message.c_str());
  return 2;
}

// Every client connection, Subscribe stream and RocksDB file takes a descriptor: raise the soft limit to the hard
// one (Debian's default soft limit, 1,024, stops the client listener early; docs/operations.md "Limits").
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    brook::server::LogInfo("open-file limit raised from ", before, " to ", limit.rlim_cur);
  }
}

// The cluster secret: from --cluster_secret_file, else from $BROOK_CLUSTER_SECRET.
absl::StatusOr<std::string> ClusterSecret(const std::string& file) {
  if (!file.empty()) {
    auto secret = brook::server::ReadSecretFile(file);
    if (!secret.ok())
      return absl::InvalidArgumentError(absl::StrCat("--cluster_secret_file: ", secret.status().message()));
    return secret;
  }
  const char* env = std::getenv("BROOK_CLUSTER_SECRET");
  if (env == nullptr || *env == '\0') {
    return absl::InvalidArgumentError(
        "a cluster secret is required: --cluster_secret_file=PATH or BROOK_CLUSTER_SECRET, the same on every node "
        "(create one with: head -c 32 /dev/urandom | base64 > cluster.secret)");
  }
  if (std::strlen(env) < brook::server::kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("BROOK_CLUSTER_SECRET has ", std::strlen(env),
                                                   " bytes; use at least ", brook::server::kMinSecretBytes));
  }
  return std::string(env);
}

}  // namespace

// --join against --node_id and --initial_members: one way to name the node and its cluster.
absl::Status CheckJoinFlags(const brook::server::NodeConfig& config) {
  if (config.join.empty()) {
    if (config.node_id == 0) {
      return absl::InvalidArgumentError("--node_id is required and must be >= 1 (or --join a running cluster)");
    }
    return absl::OkStatus();
  }
  if (config.node_id != 0) {
    return absl::InvalidArgumentError(
        "--join and --node_id do not go together: the cluster gives a joining node "
        "its id (drop --node_id)");
  }
  if (!absl::GetFlag(FLAGS_initial_members).empty()) {
    return absl::InvalidArgumentError(
        "--join and --initial_members do not go together: --initial_members starts "
        "a new cluster, --join joins a running one");
  }
  if (config.join.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        "--join must be host:port of a member's --peer_addr (example: "
        "--join=127.0.0.1:7201)");
  }
  if (config.join_timeout < std::chrono::milliseconds(1000)) {
    return absl::InvalidArgumentError("--join_timeout_ms must be >= 1000");
  }
  return absl::OkStatus();
}

// The node's configuration from its flags, or what to fix.
// --join and its companions, and the TLS files (all three or none, each readable PEM).
absl::Status JoinAndTlsFromFlags(brook::server::NodeConfig& config) {
  config.join = absl::GetFlag(FLAGS_join);
  config.join_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_join_timeout_ms));
  config.advertise_peer_addr = absl::GetFlag(FLAGS_advertise_peer_addr);
  if (auto s = CheckJoinFlags(config); !s.ok()) return s;
  config.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key), absl::GetFlag(FLAGS_tls_ca)};
  if (auto s = brook::server::CheckTlsFiles(config.tls); !s.ok()) return s;
  config.access.tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  config.access.mtls = absl::GetFlag(FLAGS_auth_mtls);
  config.access.authorization = absl::GetFlag(FLAGS_authorization);
  config.access.superusers = absl::StrSplit(absl::GetFlag(FLAGS_superusers), ',', absl::SkipEmpty());
  config.metrics_tls_cert = absl::GetFlag(FLAGS_metrics_tls_cert);
  config.metrics_tls_key = absl::GetFlag(FLAGS_metrics_tls_key);
  if (config.metrics_tls_cert.empty() != config.metrics_tls_key.empty()) {
    return absl::InvalidArgumentError("give both --metrics_tls_cert and --metrics_tls_key, or neither");
  }
  if (config.access.mtls && !config.tls.enabled()) {
    return absl::InvalidArgumentError("--auth_mtls needs --tls_cert, --tls_key and --tls_ca");
  }
  return absl::OkStatus();
}

absl::StatusOr<brook::server::NodeConfig> ConfigFromFlags() {
  auto Invalid = [](const std::string& message) { return absl::InvalidArgumentError(message); };
  brook::server::NodeConfig config;
  config.node_id = absl::GetFlag(FLAGS_node_id);
  if (auto s = JoinAndTlsFromFlags(config); !s.ok()) return s;
  config.client_addr = absl::GetFlag(FLAGS_client_addr);
  config.advertise_client_addr = absl::GetFlag(FLAGS_advertise_client_addr);
  config.peer_addr = absl::GetFlag(FLAGS_peer_addr);
  config.metrics_addr = absl::GetFlag(FLAGS_metrics_addr);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.cluster_id = absl::GetFlag(FLAGS_cluster_id);
  config.tick_ms = absl::GetFlag(FLAGS_tick_ms);
  config.election_ticks = absl::GetFlag(FLAGS_election_ticks);
  config.heartbeat_ticks = absl::GetFlag(FLAGS_heartbeat_ticks);
  config.quiesce_idle_groups = absl::GetFlag(FLAGS_quiesce_idle_groups);
  config.coalesce_produces = absl::GetFlag(FLAGS_coalesce_produces);
  config.per_partition_metrics = absl::GetFlag(FLAGS_per_partition_metrics);
  config.direct_io_for_flush = absl::GetFlag(FLAGS_direct_io_for_flush);
  config.shutdown_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_timeout_ms));
  config.retention_check_ms = absl::GetFlag(FLAGS_retention_check_ms);
  config.leader_balance_interval_ms = absl::GetFlag(FLAGS_leader_balance_interval_ms);
  if (absl::GetFlag(FLAGS_move_max_bytes_per_sec) < 0) return Invalid("--move_max_bytes_per_sec must be >= 0");
  config.move_max_bytes_per_sec = static_cast<uint64_t>(absl::GetFlag(FLAGS_move_max_bytes_per_sec));
  if (config.leader_balance_interval_ms < 0) return Invalid("--leader_balance_interval_ms must be >= 0");
  config.compaction_check_ms = absl::GetFlag(FLAGS_compaction_check_ms);
  config.compaction_min_dirty_records = absl::GetFlag(FLAGS_compaction_min_dirty_records);
  config.compaction_max_delay_ms = absl::GetFlag(FLAGS_compaction_max_delay_ms);
  config.compaction_max_key_mb = absl::GetFlag(FLAGS_compaction_max_key_mb);
  if (config.compaction_check_ms < 10) return Invalid("--compaction_check_ms must be >= 10");
  if (config.compaction_min_dirty_records < 1) return Invalid("--compaction_min_dirty_records must be >= 1");
  if (config.compaction_max_delay_ms < 10) return Invalid("--compaction_max_delay_ms must be >= 10");
  if (config.compaction_max_key_mb < 8) return Invalid("--compaction_max_key_mb must be >= 8");
  config.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  config.grpc_memory_mb = absl::GetFlag(FLAGS_grpc_memory_mb);
  config.max_connection_idle_ms = absl::GetFlag(FLAGS_max_connection_idle_ms);
  config.max_connection_age_ms = absl::GetFlag(FLAGS_max_connection_age_ms);
  if (config.max_connection_age_ms < 1000) return Invalid("--max_connection_age_ms must be >= 1000");
  config.max_subscriptions = absl::GetFlag(FLAGS_max_subscriptions);
  config.handshake_timeout_ms = absl::GetFlag(FLAGS_handshake_timeout_ms);
  if (config.handshake_timeout_ms < 100) return Invalid("--handshake_timeout_ms must be >= 100");
  config.subscribe_write_timeout_ms = absl::GetFlag(FLAGS_subscribe_write_timeout_ms);
  config.disk_reserve_mb = absl::GetFlag(FLAGS_disk_reserve_mb);
  if (config.disk_reserve_mb < 0) return Invalid("--disk_reserve_mb must be >= 0");
  if (config.max_concurrent_streams < 1) return Invalid("--max_concurrent_streams must be >= 1");
  if (config.grpc_memory_mb < 16) return Invalid("--grpc_memory_mb must be >= 16");
  if (config.max_connection_idle_ms < 1000) return Invalid("--max_connection_idle_ms must be >= 1000");
  if (config.max_subscriptions < 1) return Invalid("--max_subscriptions must be >= 1");
  if (config.subscribe_write_timeout_ms < 100) return Invalid("--subscribe_write_timeout_ms must be >= 100");
  if (config.retention_check_ms < 10) return Invalid("--retention_check_ms must be >= 10");
  if (config.client_addr.empty() || config.peer_addr.empty())
    return Invalid("--client_addr and --peer_addr are required");
  if (config.client_addr == config.peer_addr || config.client_addr == config.metrics_addr ||
      config.peer_addr == config.metrics_addr) {
    return Invalid("--client_addr, --peer_addr and --metrics_addr must be three different addresses");
  }
  if (config.data_dir.empty()) return Invalid("--data_dir is required");
  if (config.cluster_id.empty()) return Invalid("--cluster_id may not be empty");
  if (config.tick_ms < 10 || config.tick_ms > 1000) return Invalid("--tick_ms must be 10..1000");
  if (config.heartbeat_ticks < 1) return Invalid("--heartbeat_ticks must be >= 1");
  if (config.election_ticks < 3 * config.heartbeat_ticks) {
    return Invalid("--election_ticks must be at least 3 x --heartbeat_ticks");
  }
  if (auto broken = brook::server::ParseUnsafeBreak(absl::GetFlag(FLAGS_unsafe_break)); broken.ok()) {
    config.unsafe_break = *broken;
  } else {
    return Invalid(absl::StrCat("--unsafe_break: ", broken.status().message()));
  }
  if (auto secret = ClusterSecret(absl::GetFlag(FLAGS_cluster_secret_file)); secret.ok()) {
    config.cluster_secret = *secret;
  } else {
    return Invalid(std::string(secret.status().message()));
  }
  if (std::string members = absl::GetFlag(FLAGS_initial_members); !members.empty()) {
    auto parsed = brook::server::ParseMembers(members);
    if (!parsed.ok()) return Invalid(absl::StrCat("--initial_members: ", parsed.status().message()));
    config.initial_members = *parsed;
  }

  return config;
}

int main(int argc, char** argv) {
  // Block the stop signals first, before anything else runs: a SIGTERM that arrives while the node is still
  // starting then waits, and the node stops gracefully once it has started, instead of dying half-started.
  // Every thread created later inherits the mask; this one waits for the signals below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil is built with mutex deadlock detection on: every lock of every absl::Mutex (gRPC's too) then
  // updates a global lock graph, about 10% of a Produce's CPU (docs/performance.md). The tests that want it (TSan,
  // the unit tests) keep it; the server turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::SetProgramUsageMessage(
      "one node of a Brook cluster (a Raft-replicated commit log).\n\n"
      "  brookd --node_id=1 --initial_members=1=127.0.0.1:7201,2=127.0.0.1:7202,3=127.0.0.1:7203 \\\n"
      "         --client_addr=127.0.0.1:7101 --peer_addr=127.0.0.1:7201 --data_dir=/var/lib/brook\n\n"
      "A node added to a running cluster joins it through any member instead (the cluster gives it an id):\n\n"
      "  brookd --join=127.0.0.1:7201 --client_addr=127.0.0.1:7104 --peer_addr=127.0.0.1:7204 \\\n"
      "         --metrics_addr=127.0.0.1:7304 --data_dir=/var/lib/brook\n\n"
      "A config file of flags, one per line (--name=value), is read with --flagfile=PATH.\n"
      "SIGTERM or SIGINT stops the node gracefully (exit 0).");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/node/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);

  auto config = ConfigFromFlags();
  if (!config.ok()) return Fail(std::string(config.status().message()));
  brook::server::Node node(*config);

  // Data is readable by this user only: the data directory is created 0700 and every file in it 0600.
  umask(077);
  RaiseOpenFileLimit();

  if (auto s = node.Start(); !s.ok()) {
    brook::server::LogError("n", node.id(), " cannot start: ", s.message());
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  brook::server::LogInfo("n", node.id(), " received ", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                         ", stopping gracefully");
  node.Shutdown();
  return 0;
}
