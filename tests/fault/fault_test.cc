// The CI schedules of the fault-injection suite, and the proof that its checker catches broken brookd variants.
//
// Environment: BROOK_FAULT_SEED overrides the seeds, BROOK_FAULT_SECONDS the length of the two schedules.
// Longer runs: build/tests/fault/fault_run (docs/fault-injection.md).
#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fault/run.h"

namespace brook::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  uint64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) ? out : fallback;
}

int TotalFaults(const FaultReport& r) {
  int n = 0;
  for (const auto& [kind, count] : r.faults_by_kind) n += count;
  return n;
}

std::string Replay(const FaultOptions& o) {
  std::string faults;
  for (Fault f : o.faults) absl::StrAppend(&faults, faults.empty() ? "" : ",", FaultName(f));
  return absl::StrCat("replay: build/tests/fault/fault_run --seed=", o.seed, " --nodes=", o.nodes,
                      " --spare_nodes=", o.spare_nodes, " --partitions=", o.partitions,
                      " --seconds=", o.duration.count() / 1000, " --faults=", faults,
                      " --combine=", o.combine_probability, " --unsafe_break=", o.unsafe_break, " --verbose");
}

FaultReport MustRun(const FaultOptions& o) {
  auto report = RunFaults(o);
  EXPECT_TRUE(report.ok()) << report.status() << "\n" << Replay(o);
  if (!report.ok()) return FaultReport();
  std::cout << report->Summary() << "\n" << Replay(o) << std::endl;
  return *report;
}

TEST(FaultInjection, ThreeNodesEveryFault) {
  FaultOptions o;
  o.seed = EnvOr("BROOK_FAULT_SEED", 20261126);
  o.nodes = 3;
  o.spare_nodes = 1;  // replace_node: one node is decommissioned and replaced by a new one
  o.partitions = 3;
  o.duration = std::chrono::seconds(EnvOr("BROOK_FAULT_SECONDS", 150));
  o.verbose = true;
  auto r = MustRun(o);
  EXPECT_TRUE(r.ok()) << "the checker found violations\n" << Replay(o);
  EXPECT_GE(TotalFaults(r), 20);
  EXPECT_GE(r.records_acked, 10'000);
  EXPECT_FALSE(r.failover_ms.empty()) << "no leader was killed: the schedule proves no failover";
}

TEST(FaultInjection, FiveNodesEveryFault) {
  FaultOptions o;
  o.seed = EnvOr("BROOK_FAULT_SEED", 20261126) + 1;
  o.nodes = 5;
  o.spare_nodes = 2;
  o.replication = 3;
  o.partitions = 5;
  o.producers = 5;
  o.consumers = 5;
  o.duration = std::chrono::seconds(EnvOr("BROOK_FAULT_SECONDS", 150) / 2);
  o.verbose = true;
  auto r = MustRun(o);
  EXPECT_TRUE(r.ok()) << "the checker found violations\n" << Replay(o);
  EXPECT_GE(TotalFaults(r), 8);
}

// Each broken brookd must be caught by the checker, in the category that describes its bug.
struct Broken {
  const char* rule;
  std::vector<Fault> faults;
  int seconds;
  int64_t FaultReport::*symptom;
  int consumers = 3;
  int producers = 6;
};

class BrokenVariant : public ::testing::TestWithParam<Broken> {};

TEST_P(BrokenVariant, IsCaught) {
  const Broken& b = GetParam();
  FaultOptions o;
  o.seed = EnvOr("BROOK_FAULT_SEED", 7);
  o.unsafe_break = b.rule;
  o.faults = b.faults;
  o.duration = std::chrono::seconds(b.seconds);
  o.consumers = b.consumers;
  o.producers = b.producers;
  o.combine_probability = 0;
  o.min_quiet = std::chrono::milliseconds(300);
  o.max_quiet = std::chrono::milliseconds(800);
  o.verbose = true;
  auto r = MustRun(o);
  EXPECT_FALSE(r.ok()) << "brookd --unsafe_break=" << b.rule << " was not caught\n" << Replay(o);
  EXPECT_GT(r.*b.symptom, 0) << "caught, but not for the expected reason\n" << Replay(o);
}

INSTANTIATE_TEST_SUITE_P(
    Checker, BrokenVariant,
    ::testing::Values(Broken{"ack_before_commit", {Fault::kIsolateLeader}, 20, &FaultReport::lost},
                      // Three consumers per partition, so that some read from the isolated leader in the short
                      // window before it steps down; four producers per partition, so that the batches retried on
                      // the new leader land in another order than on the isolated one (a retry that lands at the
                      // same offset makes the uncommitted read right after all).
                      Broken{"read_past_commit", {Fault::kIsolateLeader}, 25, &FaultReport::disagreements, 9, 12},
                      Broken{"skip_idempotence",
                             {Fault::kKillLeader, Fault::kIsolateLeader, Fault::kPauseLeader},
                             20,
                             &FaultReport::duplicates},
                      Broken{"skip_sync", {Fault::kPowerFailAll}, 15, &FaultReport::lost}),
    [](const ::testing::TestParamInfo<Broken>& info) { return std::string(info.param.rule); });

}  // namespace
}  // namespace brook::testing
