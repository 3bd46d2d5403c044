// What every `brook` command handler gets, and the helpers they share.
#pragma once

#include <atomic>
#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/cli/args.h"
#include "client/lib/connection.h"
#include "client/lib/consumer.h"

namespace brook::cli {

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

struct Context {
  const ParsedArgs& args;
  std::vector<std::string> positionals;  // the words after the command path
  bool json = false;                     // --output=json
  std::string bootstrap;
  std::chrono::milliseconds timeout{30000};
  Io io;
  std::shared_ptr<client::Connection> connection;
};

// The exit code for a failed status (NOT_FOUND -> 3, INVALID_ARGUMENT raised by the CLI itself -> 2 via
// UsageError, anything else -> 1), after printing "brook: error: ..." to stderr.
int Fail(Context& ctx, const absl::Status& status);
// Prints a usage error and returns kExitUsage.
int UsageError(Context& ctx, const std::string& message);

// Set by SIGINT while a command that runs until interrupted (consume --follow) has OnInterrupt installed.
extern std::atomic<bool> g_interrupted;
extern "C" void OnInterrupt(int);
// One record as `brook consume` prints it (a line of text, or a JSON object with --output=json).
void PrintRecord(Context& ctx, const client::ConsumerRecord& r);

int RunBenchProduce(Context& ctx);
// groups.cc
int ConsumeInGroup(Context& ctx);
int GroupList(Context& ctx);
int GroupDescribe(Context& ctx);
int GroupDelete(Context& ctx);
int GroupResetOffsets(Context& ctx);
// access.cc
int WhoAmI(Context& ctx);
int AclAdd(Context& ctx);
int AclRemove(Context& ctx);
int AclList(Context& ctx);
int QuotaSet(Context& ctx);
int QuotaList(Context& ctx);
int TokenNew(Context& ctx);
// moves.cc
int TopicMoveReplicas(Context& ctx);
int TopicCancelMove(Context& ctx);
int TopicAddPartitions(Context& ctx);
int ClusterOperations(Context& ctx);
int ClusterDecommission(Context& ctx);
int ClusterReplace(Context& ctx);
int ClusterRemove(Context& ctx);
int RunBenchConsume(Context& ctx);
int RunBenchRpc(Context& ctx);  // bench_rpc.cc
// Prints a benchmark's figures (a line of text, or one JSON object with --output=json).
void ReportBench(Context& ctx, const std::string& kind, uint64_t records, uint64_t bytes, uint64_t errors,
                 double secs, std::vector<double> latencies_ms, const std::string& latency_of);

// Percentile (0..1) of sorted values by nearest rank; 0 for an empty vector.
double Percentile(const std::vector<double>& sorted, double q);

}  // namespace brook::cli
