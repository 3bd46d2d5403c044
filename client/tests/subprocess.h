// Runs a program for a test: argv, optional stdin text, captured stdout/stderr, exit code, and a timeout after
// which the child (and only it, by PID) is killed.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace brook::client::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by the timeout or a signal
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                const std::map<std::string, std::string>& env = {}) {
  char dir_template[] = "/tmp/brook-proc-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string in_path = dir + "/in", out_path = dir + "/out", err_path = dir + "/err";
  { std::ofstream(in_path, std::ios::binary) << input; }
  ProcessResult result;
  const pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  rmdir(dir.c_str());
  return result;
}

// Installs @grpc/grpc-js and @grpc/proto-loader (client/node/package.json) from the npm registry into
// `deps_dir`/node_modules once, for the Node.js client. Returns "" on success, else npm's output.
inline std::string EnsureNodeDeps(const std::string& source_dir, const std::string& deps_dir) {
  if (std::filesystem::exists(deps_dir + "/node_modules/@grpc/grpc-js") &&
      std::filesystem::exists(deps_dir + "/node_modules/@grpc/proto-loader") &&
      std::filesystem::exists(deps_dir + "/node_modules/fzstd")) {
    return "";
  }
  std::filesystem::create_directories(deps_dir);
  std::filesystem::copy_file(source_dir + "/client/node/package.json", deps_dir + "/package.json",
                             std::filesystem::copy_options::overwrite_existing);
  auto install = RunProcess({"npm", "install", "--prefix", deps_dir, "--no-audit", "--no-fund"}, "",
                            std::chrono::seconds(240));
  return install.exit_code == 0 ? "" : "npm install failed:\n" + install.out + install.err;
}

}  // namespace brook::client::testing
