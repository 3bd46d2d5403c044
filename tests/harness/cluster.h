// Test harness: runs real `brookd` processes on loopback addresses and controls their lives.
//
// Every process is started by this harness and killed by PID only; every wait has a deadline. Data directories
// live under one temporary folder that the harness removes on destruction unless BROOK_KEEP_TEST_DATA is set.
// Not thread-safe: one test thread drives a Cluster.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::testing {

struct ClusterOptions {
  int nodes = 3;
  // Slots for nodes that join later (Cluster::Join): their addresses are picked at Start (and are in
  // client_addresses()), their processes started only when they join. Slot i is node id nodes + i.
  int spare_nodes = 0;
  // Raft timing of every node (brookd --tick_ms, --election_ticks). Short ticks keep failover tests quick.
  int tick_ms = 20;
  int election_ticks = 10;
  // Where the cluster's directory (data, logs, secret) is made; /tmp when empty.
  std::string parent_dir;
  // Extra flags passed to every brookd.
  std::vector<std::string> extra_flags;
  // Extra flags of node `id` only, after extra_flags (e.g. --advertise_client_addr of a proxy in front of it).
  // Unset: none.
  std::function<std::vector<std::string>(uint64_t id)> node_flags;
  // Path of the brookd binary; defaults to $BROOKD or the path compiled in by CMake.
  std::string brookd_path;
  // The address node `from` dials to reach node `to`, whose node-to-node server listens on `peer_address`
  // (e.g. a fault-injecting proxy in between). Unset: every node dials the others directly.
  std::function<std::string(uint64_t from, uint64_t to, const std::string& peer_address)> route;
  // A directory made by scripts/make-certs.sh: every node runs with TLS (--tls_cert=DIR/node-N.pem, its key, and
  // DIR/ca.pem; node_flags may override them). Empty: plaintext.
  std::string tls_dir;
  // A bearer token the harness's own readiness check sends (a superuser's, when the nodes run with
  // --auth_tokens_file and --authorization). Empty: none.
  std::string token;
  // Extra environment ("NAME=value") of node `id`'s process, e.g. LD_PRELOAD. Unset: none. Merged into the test
  // process's environment with MergeEnvironment.
  std::function<std::vector<std::string>(uint64_t id)> environment;
};

struct NodeProcess {
  uint64_t id = 0;
  std::string client_address;
  std::string peer_address;
  std::string metrics_address;
  std::string data_dir;
  std::string log_path;  // stdout+stderr of the process
  std::string join;      // brookd --join: a member's peer address (a spare slot that joined); "" otherwise
  pid_t pid = -1;        // -1 when not running
};

class Cluster {
 public:
  // Starts `options.nodes` brookd processes on free 127.0.0.1 ports and waits until every node answers and the
  // cluster has a controller, or `timeout` passes.
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(
      ClusterOptions options, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~Cluster();  // SIGKILLs every node still running and removes the data unless BROOK_KEEP_TEST_DATA is set.

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::vector<NodeProcess>& nodes() const { return nodes_; }
  const NodeProcess& node(uint64_t id) const { return nodes_.at(id - 1); }
  std::vector<std::string> client_addresses() const;
  // "127.0.0.1:a,127.0.0.1:b,..." for client bootstrap flags.
  std::string bootstrap() const;
  // The cluster's directory: data directories, logs and the secret (cluster.secret).
  const std::string& root() const { return root_; }

  // Process control, by PID of the processes this harness started.
  absl::Status Kill(uint64_t id);                                          // SIGKILL, then reap.
  absl::Status Terminate(uint64_t id, std::chrono::milliseconds timeout);  // SIGTERM, wait for exit 0.
  absl::Status Pause(uint64_t id);                                         // SIGSTOP
  absl::Status Resume(uint64_t id);                                        // SIGCONT
  absl::Status Restart(uint64_t id);  // Starts the node again on the same addresses and data directory.
  bool Running(uint64_t id) const { return node(id).pid > 0; }
  // OK while node `id` runs (or was stopped by this harness); once it has exited on its own, reaps it and says how
  // it ended ("exited with code 3", "killed by signal 11").
  absl::Status CheckAlive(uint64_t id);

  // Starts spare slot `id` (brookd --join through node `via`), checks the cluster gave it id `id` (ids are given
  // in order, so slots joined in order get theirs), and waits until it is ACTIVE and ready.
  absl::Status Join(uint64_t id, uint64_t via, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Deletes node `id`'s data directory (the node must be stopped): a lost disk.
  absl::Status Wipe(uint64_t id);

  // Waits until node `id` answers DescribeCluster with a known controller.
  absl::Status WaitReady(uint64_t id, std::chrono::milliseconds timeout);
  // The last lines of a node's log, for failure messages.
  std::string LogTail(uint64_t id, int lines = 40) const;

 private:
  Cluster() = default;
  absl::Status Spawn(NodeProcess& node);

  ClusterOptions options_;
  std::string root_;
  std::map<uint64_t, std::string> initial_members_;  // node id -> its --initial_members
  std::vector<NodeProcess> nodes_;
};

// Runs brookd (the path compiled in) with `flags` and returns its exit code and output (stdout and stderr); the
// code is 124 when it still ran after 20 s (then it was stopped).
std::pair<int, std::string> RunBrookd(const std::string& flags);

// Sets "NAME=value" `entry` in `env` (a process environment): it replaces an entry of the same name, which would
// otherwise win (getenv takes the first), except that LD_PRELOAD lists are joined, `entry`'s libraries first, so a
// node's own preload (the power fault's sync tracker) and one the tests were started with (an allocator) both
// load.
void MergeEnvironment(std::vector<std::string>& env, std::string entry);

// A free TCP port on 127.0.0.1, below the ephemeral range so that no outgoing connection takes it while its node
// is down and restarting (bound and released; each call in a process returns another port).
int FreePort();

}  // namespace brook::testing
