// Runs client/tests/drop_answers_proxy.py for a test: a gRPC proxy in front of one brookd that loses the answers
// of the first Produce calls after the leader has written them. Started and killed by PID; every wait has a
// deadline.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/tests/subprocess.h"

namespace brook::client::testing {

struct DropAnswersOptions {
  std::string listen;  // 127.0.0.1:PORT, the address its brookd advertises (--advertise_client_addr)
  std::string target;  // the brookd's own client address
  int drop_produce = 0;
  int drop_every = 1;                                       // drop one in this many successful Produce answers
  std::string fail_with = "DEADLINE_EXCEEDED,UNAVAILABLE";  // cycled over the dropped answers
  std::string log_path;                                     // the proxy's stdout and stderr
};

class DropAnswersProxy {
 public:
  // Starts the proxy and waits until it serves (its "listening on" line), at most `timeout`.
  static absl::StatusOr<std::unique_ptr<DropAnswersProxy>> Start(DropAnswersOptions options,
                                                                 std::chrono::milliseconds timeout) {
    std::unique_ptr<DropAnswersProxy> proxy(new DropAnswersProxy(std::move(options)));
    if (auto s = proxy->Spawn(); !s.ok()) return s;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (absl::StrContains(proxy->Log(), "listening on")) return proxy;
      int status = 0;
      if (waitpid(proxy->pid_, &status, WNOHANG) == proxy->pid_) {
        proxy->pid_ = -1;
        return absl::InternalError(absl::StrCat("drop_answers_proxy exited while starting:\n", proxy->Log()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("drop_answers_proxy not listening in time:\n", proxy->Log()));
  }

  // Kills the proxy (by PID) and removes its log.
  ~DropAnswersProxy() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::remove(options_.log_path.c_str());
  }

  DropAnswersProxy(const DropAnswersProxy&) = delete;
  DropAnswersProxy& operator=(const DropAnswersProxy&) = delete;

  // How many Produce answers it has lost so far.
  int Dropped() const {
    int n = 0;
    const std::string log = Log();
    for (size_t at = log.find("dropped produce answer"); at != std::string::npos;
         at = log.find("dropped produce answer", at + 1)) {
      ++n;
    }
    return n;
  }
  std::string Log() const { return ReadFile(options_.log_path); }
  const DropAnswersOptions& options() const { return options_; }

 private:
  explicit DropAnswersProxy(DropAnswersOptions options) : options_(std::move(options)) {}

  absl::Status Spawn() {
    std::vector<std::string> args = {
        "/usr/bin/python3",
        std::string(BROOK_SOURCE_DIR) + "/client/tests/drop_answers_proxy.py",
        "--listen=" + options_.listen,
        "--target=" + options_.target,
        absl::StrCat("--drop-produce=", options_.drop_produce),
        absl::StrCat("--drop-every=", options_.drop_every),
        "--fail-with=" + options_.fail_with,
        "--max-seconds=300",
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      close_range(3, ~0U, 0);  // no descriptor of the test (a brookd's socket, say) leaks into the proxy
      const int fd = open(options_.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    return absl::OkStatus();
  }

  DropAnswersOptions options_;
  pid_t pid_ = -1;
};

}  // namespace brook::client::testing
