// fault_run: one fault-injection run of any length, for soaks and for replaying a seed that a test printed.
//
//   build/tests/fault/fault_run --seconds=1800 --seed=7            # a 30-minute soak on 3 nodes
//   build/tests/fault/fault_run --nodes=5 --faults=partition,kill_leader --verbose
//
// Exit status: 0 when the checker found nothing, 1 when it found a violation, 2 when the harness failed.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "tests/fault/run.h"

ABSL_FLAG(uint64_t, seed, 1, "Seed of the fault schedule and of the workload's choices.");
ABSL_FLAG(int, nodes, 3, "brookd processes (3 or 5 make sense).");
ABSL_FLAG(int, spare_nodes, 0,
          "Slots for nodes that join during the run: each replace_node fault uses one (a new node joins and "
          "takes over a random node, which is then removed).");
ABSL_FLAG(uint32_t, replication, 3, "Replication factor of the test topic.");
ABSL_FLAG(uint32_t, partitions, 3, "Partitions of the test topic.");
ABSL_FLAG(int, producers, 6, "Producer threads (producer i writes partition i % partitions).");
ABSL_FLAG(int, consumers, 3, "Consumer threads (consumer i reads partition i % partitions).");
ABSL_FLAG(int, seconds, 60, "How long the nemesis injects faults.");
ABSL_FLAG(std::string, faults, "all",
          "Comma-separated faults to draw from: kill, kill_leader, pause, pause_leader, restart, power_fail, "
          "power_fail_all, partition, isolate_leader, one_way, bridge, transfer_leader, move_replica, "
          "replace_node; or all.");
ABSL_FLAG(double, combine, 0.25, "Probability that a fault comes with a second one of the other kind.");
ABSL_FLAG(int, min_quiet_ms, 300, "Shortest pause between one fault's heal and the next fault.");
ABSL_FLAG(int, max_quiet_ms, 1500,
          "Longest pause between faults. Failover alone: give a restarted node time to catch up (about 2 s) with "
          "--min_quiet_ms=2500 --max_quiet_ms=3500 --faults=kill_leader --combine=0.");
ABSL_FLAG(int, tick_ms, 50, "brookd --tick_ms.");
ABSL_FLAG(int, election_ticks, 10, "brookd --election_ticks.");
ABSL_FLAG(std::string, unsafe_break, "none",
          "brookd --unsafe_break: run a deliberately broken brookd to see the checker catch it.");
ABSL_FLAG(bool, torn_writes, true, "Power failures may keep part of a file's unsynced tail (a torn write).");
ABSL_FLAG(bool, verbose, false, "Print every fault as it is injected and healed.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs brookd nodes under a seeded schedule of crashes, pauses, partitions and power failures while "
      "producers and consumers record every operation, then checks that no acknowledged record was lost, "
      "duplicated or read differently anywhere.");
  absl::ParseCommandLine(argc, argv);
  brook::testing::FaultOptions o;
  o.seed = absl::GetFlag(FLAGS_seed);
  o.nodes = absl::GetFlag(FLAGS_nodes);
  o.spare_nodes = absl::GetFlag(FLAGS_spare_nodes);
  o.replication = absl::GetFlag(FLAGS_replication);
  o.partitions = absl::GetFlag(FLAGS_partitions);
  o.producers = absl::GetFlag(FLAGS_producers);
  o.consumers = absl::GetFlag(FLAGS_consumers);
  o.duration = std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  o.combine_probability = absl::GetFlag(FLAGS_combine);
  o.min_quiet = std::chrono::milliseconds(std::max(0, absl::GetFlag(FLAGS_min_quiet_ms)));
  o.max_quiet =
      std::chrono::milliseconds(std::max(absl::GetFlag(FLAGS_min_quiet_ms), absl::GetFlag(FLAGS_max_quiet_ms)));
  o.tick_ms = absl::GetFlag(FLAGS_tick_ms);
  o.election_ticks = absl::GetFlag(FLAGS_election_ticks);
  o.unsafe_break = absl::GetFlag(FLAGS_unsafe_break);
  o.verbose = absl::GetFlag(FLAGS_verbose);
  o.torn_writes = absl::GetFlag(FLAGS_torn_writes);
  auto faults = brook::testing::ParseFaults(absl::GetFlag(FLAGS_faults));
  if (!faults.ok()) {
    std::fprintf(stderr, "fault_run: --faults: %s\n", std::string(faults.status().message()).c_str());
    return 2;
  }
  o.faults = *faults;
  auto report = brook::testing::RunFaults(o);
  if (!report.ok()) {
    std::fprintf(stderr, "fault_run: %s\n", std::string(report.status().message()).c_str());
    return 2;
  }
  std::cout << report->Summary() << std::endl;
  return report->ok() ? 0 : 1;
}
