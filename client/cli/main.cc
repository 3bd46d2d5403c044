// `brook`: the command-line tool for Brook clusters. See client/README.md.
#include <malloc.h>

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
  // glibc gives freed memory back to the kernel as soon as 128 KiB or more lie free at the top of a heap, and
  // serves blocks of 128 KiB or more with mmap of their own. A consumer that takes a Fetch answer of up to 16 MiB
  // per partition per Poll and frees it then faults every page back in on the next Poll: on this machine the page
  // faults cost more than the copies (docs/performance.md, read back). The tool keeps up to 256 MiB free instead.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  std::vector<std::string> args(argv + 1, argv + argc);
  return brook::cli::RunCli(args, brook::cli::Io{std::cin, std::cout, std::cerr});
}
