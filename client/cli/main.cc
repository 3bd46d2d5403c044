// `brook`: the command-line tool for Brook clusters. See client/README.md.
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "client/cli/commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Debian's Abseil checks every mutex lock for deadlock cycles (gRPC's too): costly, and a tool has no use for
  // it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  return brook::cli::RunCli(args, brook::cli::Io{std::cin, std::cout, std::cerr});
}
