// A Jepsen-style fault-injection run against real brookd processes.
//
// RunFaults starts a cluster of `nodes` brookd processes whose node-to-node traffic crosses a fault-injecting
// proxy (fault_net.h) and whose fsyncs are recorded (sync_tracker.cc, for the power-failure fault). It creates a
// topic, then for `duration` runs at once:
//   - producers: idempotent, every record value unique, each operation retried with the same producer id and
//     sequence until it is acknowledged or its time is up; every operation's invocation, completion and outcome
//     (ok with offsets, failed = certainly not written, unknown: what the answer's WriteOutcome says) is recorded.
//     Each producer has a name (InitProducer) and restarts under it now and then, and after every operation whose
//     outcome stayed unknown: the new instance gets the next epoch and fences the old one;
//   - consumers: read partitions sequentially from changing nodes and record every (offset, value) served;
//   - the nemesis: on a schedule drawn from `seed`, injects the faults of `faults` (alone or two at once) and
//     heals them.
// Then it heals everything, checks that every partition accepts a produce again, waits until every node holds the
// same log, reads every log from every node and checks the history (see FaultReport).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace brook::testing {

enum class Fault {
  kKill,            // SIGKILL a random node; restart it (same data directory) when the fault ends
  kKillLeader,      // SIGKILL the leader of a random partition; restart it when the fault ends
  kPause,           // SIGSTOP a random node for longer than the election timeout, then SIGCONT
  kPauseLeader,     // the same, for the leader of a random partition
  kRestart,         // SIGTERM a random node (graceful stop), start it again when the fault ends
  kPowerFail,       // SIGKILL a random node and drop every write it had not synced, then restart it
  kPowerFailAll,    // the same for every node at once (the whole cluster loses power)
  kPartition,       // cut the nodes into a majority and a minority
  kIsolateLeader,   // cut the leader of a random partition off from every other node
  kOneWay,          // one node's traffic to every other node is cut, or every node's traffic to it
  kBridge,          // two sides that cannot talk, and one node that talks to both
  kTransferLeader,  // move a random partition's leadership to another replica (the leader balancer moves it back)
  kMoveReplica,     // move one replica of a random partition to a node that holds none (MoveReplicas; needs more
                    // nodes than the replication factor); the final check waits for moves and reads the replicas
                    // they left
  kReplaceNode,     // decommission and re-add: a new node joins (brookd --join, into a spare slot), then a random
                    // live node is replaced by it (DecommissionNode with replacement_node_id); the old one is
                    // stopped for good once the cluster records it removed. Needs spare_nodes left.
};
const char* FaultName(Fault fault);
// Parses a comma-separated list of fault names ("kill,kill_leader,..."); "all" is every fault.
absl::StatusOr<std::vector<Fault>> ParseFaults(const std::string& names);
std::vector<Fault> AllFaults();

struct FaultOptions {
  uint64_t seed = 1;
  int nodes = 3;
  // Slots for nodes that join during the run (kReplaceNode): one per replacement.
  int spare_nodes = 0;
  uint32_t replication = 3;
  uint32_t partitions = 3;
  int producers = 6;  // threads; producer i writes to partition i % partitions
  int consumers = 3;  // threads; consumer i reads partition i % partitions
  int value_bytes = 48;
  int max_records_per_batch = 4;
  std::chrono::milliseconds duration{60'000};  // how long the nemesis runs
  std::vector<Fault> faults = AllFaults();
  double combine_probability = 0.25;  // chance that a fault comes with a second one of the other kind
  std::chrono::milliseconds min_quiet{300}, max_quiet{1500};
  std::chrono::milliseconds min_fault{1500}, max_fault{4000};
  std::chrono::milliseconds op_timeout{5000};  // an operation not acknowledged by then has an unknown outcome
  int tick_ms = 50;
  int election_ticks = 10;
  // Power failures keep a random part of each file's unsynced tail half of the time (a torn write) instead of
  // dropping all of it.
  bool torn_writes = true;
  std::string unsafe_break = "none";  // brookd --unsafe_break, for proving that the checker catches violations
  bool verbose = false;               // print every fault as it happens
};

struct FaultEvent {
  std::string description;
  int64_t start_ms = 0;  // since the start of the run
  int64_t end_ms = 0;
};

struct FaultReport {
  uint64_t seed = 0;
  // Workload.
  int64_t produce_ops = 0, produce_ok = 0, produce_failed = 0, produce_unknown = 0;
  int64_t records_acked = 0, records_unknown_present = 0;
  int64_t fetches = 0, records_read = 0;
  int64_t ops_during_faults = 0, ok_during_faults = 0;
  int64_t producer_restarts = 0;  // named producers that started again under their name (InitProducer)
  // Faults.
  std::map<std::string, int> faults_by_kind;
  int combined_faults = 0;
  std::vector<FaultEvent> events;
  // Failover: per partition whose leader was killed, ms from the kill to the next acknowledged produce there.
  std::vector<int64_t> failover_ms;
  std::vector<int64_t> failover_alone_ms;  // the same, for kills that came without a second fault
  int64_t recovery_ms = 0;                 // after the final heal: until every partition accepted a produce again
  // Violations. Any of them fails the run.
  int64_t lost = 0;                   // acknowledged records missing at their acknowledged offset
  int64_t duplicates = 0;             // extra copies of a record value in a log
  int64_t disagreements = 0;          // offsets at which two reads (any node, any time) returned different records
  int64_t backwards = 0;              // reads that returned offsets out of order or behind the position asked for
  int64_t phantoms = 0;               // records read that no producer ever sent
  int64_t failed_but_present = 0;     // records of operations that failed for certain, found in the log
  int64_t unexpected_gaps = 0;        // TRIMMED gaps (no retention is configured)
  int64_t crashes = 0;                // brookd processes that exited on their own, or not cleanly on SIGTERM
  int64_t bad_receipts = 0;           // acknowledgements whose durability receipt promised less than a majority
  bool live = true;                   // every partition accepted a produce after the final heal
  bool converged = true;              // every node served the same full log
  std::vector<std::string> examples;  // the first violations, described
  std::map<std::string, int> failed_errors;  // failed operations by their last error (its first 60 characters)

  bool ok() const {
    return lost == 0 && duplicates == 0 && disagreements == 0 && backwards == 0 && phantoms == 0 &&
           failed_but_present == 0 && unexpected_gaps == 0 && crashes == 0 && bad_receipts == 0 && live &&
           converged;
  }
  std::string Summary() const;
};

// Runs one schedule. An error status means the harness itself failed (brookd did not start, ...); violations of
// the guarantees are in the report.
absl::StatusOr<FaultReport> RunFaults(const FaultOptions& options);

// The p-th percentile (0..100) of `values` (0 when empty).
int64_t Percentile(std::vector<int64_t> values, double p);

}  // namespace brook::testing
