#include "tests/harness/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string_view>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "brook/v1/admin.grpc.pb.h"
#include "grpcpp/grpcpp.h"

#ifndef BROOK_BROOKD_PATH
#define BROOK_BROOKD_PATH ""
#endif

namespace brook::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool WaitExit(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

void MergeEnvironment(std::vector<std::string>& env, std::string entry) {
  std::string_view name(entry.data(), std::min(entry.find('='), entry.size()));
  for (auto& e : env) {
    if (e.size() <= name.size() || e.compare(0, name.size(), name) != 0 || e[name.size()] != '=') continue;
    if (name == "LD_PRELOAD" && e.size() > name.size() + 1) {
      // Both lists load: the node's own library first, then what the test process was started with.
      e = absl::StrCat(entry, ":", e.substr(name.size() + 1));
    } else {
      e = std::move(entry);
    }
    return;
  }
  env.push_back(std::move(entry));
}

int FreePort() {
  // Below the kernel's ephemeral range (32768-60999 here): a node that is down and restarted must find its port
  // free again, and an ephemeral port can meanwhile be handed to any outgoing connection as its local port.
  static std::atomic<int> next{20000 + static_cast<int>(getpid() % 1000) * 12};
  for (int attempt = 0; attempt < 2000; ++attempt) {
    // Ports 20000-31999, wrapping around: every call takes the next one (two calls never get the same port).
    const int port = 20000 + (next.fetch_add(1) - 20000) % 12000;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

std::pair<int, std::string> RunBrookd(const std::string& flags) {
  FILE* p = popen(absl::StrCat("timeout 20 ", BROOK_BROOKD_PATH, " ", flags, " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(ClusterOptions options,
                                                        std::chrono::milliseconds timeout) {
  std::unique_ptr<Cluster> c(new Cluster());
  if (options.brookd_path.empty()) {
    const char* env = std::getenv("BROOKD");
    options.brookd_path = env != nullptr ? env : BROOK_BROOKD_PATH;
  }
  if (!std::filesystem::exists(options.brookd_path)) {
    return absl::FailedPreconditionError(absl::StrCat("brookd binary not found at '", options.brookd_path, "'"));
  }
  c->options_ = options;
  std::string tmpl =
      (options.parent_dir.empty() ? std::string("/tmp") : options.parent_dir) + "/brook-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  c->root_ = tmpl;
  for (int i = 1; i <= options.nodes + options.spare_nodes; ++i) {
    NodeProcess n;
    n.id = i;
    n.client_address = absl::StrCat("127.0.0.1:", FreePort());
    n.peer_address = absl::StrCat("127.0.0.1:", FreePort());
    n.metrics_address = absl::StrCat("127.0.0.1:", FreePort());
    n.data_dir = absl::StrCat(c->root_, "/node", i);
    n.log_path = absl::StrCat(c->root_, "/node", i, ".log");
    c->nodes_.push_back(n);
  }
  for (const auto& self : c->nodes_) {
    if (self.id > static_cast<uint64_t>(options.nodes)) break;  // spares join later
    std::vector<std::string> members;
    for (const auto& n : c->nodes_) {
      if (n.id > static_cast<uint64_t>(options.nodes)) break;  // spares join later
      std::string address = n.peer_address;
      if (n.id != self.id && options.route) address = options.route(self.id, n.id, n.peer_address);
      members.push_back(absl::StrCat(n.id, "=", address));
    }
    c->initial_members_[self.id] = absl::StrJoin(members, ",");
  }
  // Every node shares one cluster secret (brookd --cluster_secret_file), random per test cluster.
  {
    std::ofstream secret(c->root_ + "/cluster.secret");
    std::random_device entropy;
    for (int i = 0; i < 32; ++i) secret << "0123456789abcdef"[entropy() % 16];
  }
  for (int i = 0; i < options.nodes; ++i) {
    if (auto s = c->Spawn(c->nodes_[i]); !s.ok()) return s;
  }
  for (int i = 0; i < options.nodes; ++i) {
    if (auto s = c->WaitReady(c->nodes_[i].id, timeout); !s.ok()) return s;
  }
  return c;
}

Cluster::~Cluster() {
  for (auto& n : nodes_) {
    if (n.pid > 0) {
      kill(n.pid, SIGKILL);
      int status;
      waitpid(n.pid, &status, 0);
      n.pid = -1;
    }
  }
  if (std::getenv("BROOK_KEEP_TEST_DATA") == nullptr && !root_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
}

std::vector<std::string> Cluster::client_addresses() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n.client_address);
  return out;
}

std::string Cluster::bootstrap() const { return absl::StrJoin(client_addresses(), ","); }

absl::Status Cluster::Join(uint64_t id, uint64_t via, std::chrono::milliseconds timeout) {
  auto& n = nodes_.at(id - 1);
  if (initial_members_.contains(id) || n.pid > 0 || !n.join.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not an unused spare slot"));
  }
  n.join = node(via).peer_address;
  if (auto s = Spawn(n); !s.ok()) return s;
  const auto deadline = Clock::now() + timeout;
  const std::string admitted = "admitted to cluster";
  std::string tail;
  while (Clock::now() < deadline) {
    tail = LogTail(id, 200);
    if (auto at = tail.find(admitted); at != std::string::npos) {
      const std::string want = absl::StrCat(admitted, " 'brook' as node ", id, " ");
      if (tail.find(want) == std::string::npos) {
        return absl::InternalError(absl::StrCat("spare slot ", id, " was given another id:\n", tail));
      }
      return WaitReady(id, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    }
    if (auto s = CheckAlive(id); !s.ok()) return absl::InternalError(absl::StrCat(s.message(), ":\n", tail));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("node ", id, " was not admitted in time:\n", tail));
}

absl::Status Cluster::Wipe(uint64_t id) {
  const auto& n = node(id);
  if (n.pid > 0) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is running"));
  std::error_code ec;
  std::filesystem::remove_all(n.data_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot delete ", n.data_dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status Cluster::Spawn(NodeProcess& n) {
  std::vector<std::string> args = {options_.brookd_path};
  if (n.join.empty()) {
    args.push_back(absl::StrCat("--node_id=", n.id));
    args.push_back(absl::StrCat("--initial_members=", initial_members_.at(n.id)));
  } else {
    args.push_back(absl::StrCat("--join=", n.join));
  }
  for (std::string flag : {
           absl::StrCat("--client_addr=", n.client_address),
           absl::StrCat("--peer_addr=", n.peer_address),
           absl::StrCat("--metrics_addr=", n.metrics_address),
           absl::StrCat("--data_dir=", n.data_dir),
           absl::StrCat("--tick_ms=", options_.tick_ms),
           absl::StrCat("--election_ticks=", options_.election_ticks),
           absl::StrCat("--cluster_secret_file=", root_, "/cluster.secret"),
           // test machines may have little free space; a test that needs more sets its own
           std::string("--disk_reserve_mb=16"),
       }) {
    args.push_back(std::move(flag));
  }
  if (!options_.tls_dir.empty()) {
    args.push_back(absl::StrCat("--tls_cert=", options_.tls_dir, "/node-", n.id, ".pem"));
    args.push_back(absl::StrCat("--tls_key=", options_.tls_dir, "/node-", n.id, ".key"));
    args.push_back(absl::StrCat("--tls_ca=", options_.tls_dir, "/ca.pem"));
  }
  for (const auto& f : options_.extra_flags) args.push_back(f);
  if (options_.node_flags) {
    for (auto& f : options_.node_flags(n.id)) args.push_back(std::move(f));
  }
  // Everything the child needs is built before fork(): the test process has other threads, and the child may
  // only call async-signal-safe functions until it execs.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  if (options_.environment) {
    for (auto& e : options_.environment(n.id)) MergeEnvironment(env, std::move(e));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  // The child starts with the stop signals blocked and keeps them blocked across exec until brookd's main
  // blocks them itself, so a SIGTERM sent while the node is still loading waits for it. (A fault that restarts
  // a node it has just started would otherwise kill it before main runs, and read as a failed graceful stop.)
  // They are blocked in this thread around fork(), so there is no moment in which the child has them open.
  sigset_t stop, before;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, &before);
  pid_t pid = fork();
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // No descriptor of the test process may leak into the node: a socket the harness closes (a proxy's
    // connection, say) stays open while any child holds a copy, and its peer never sees the close.
    close_range(3, ~0U, 0);
    int fd = open(n.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  n.pid = pid;
  return absl::OkStatus();
}

absl::Status Cluster::Kill(uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not running"));
  kill(n.pid, SIGKILL);
  int status;
  waitpid(n.pid, &status, 0);
  n.pid = -1;
  return absl::OkStatus();
}

absl::Status Cluster::Terminate(uint64_t id, std::chrono::milliseconds timeout) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is not running"));
  kill(n.pid, SIGTERM);
  int status = 0;
  if (!WaitExit(n.pid, timeout, &status)) {
    kill(n.pid, SIGKILL);
    waitpid(n.pid, &status, 0);
    n.pid = -1;
    return absl::DeadlineExceededError(
        absl::StrCat("node ", id, " did not exit within the timeout after SIGTERM"));
  }
  n.pid = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("node ", id, " exited with status ", status, " after SIGTERM"));
  }
  return absl::OkStatus();
}

absl::Status Cluster::CheckAlive(uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0) return absl::OkStatus();
  int status = 0;
  if (waitpid(n.pid, &status, WNOHANG) != n.pid) return absl::OkStatus();
  n.pid = -1;
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat("node ", id, " was killed by signal ", WTERMSIG(status)));
  }
  return absl::InternalError(absl::StrCat("node ", id, " exited with code ", WEXITSTATUS(status)));
}

absl::Status Cluster::Pause(uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0 || kill(n.pid, SIGSTOP) != 0) return absl::FailedPreconditionError("cannot pause");
  return absl::OkStatus();
}

absl::Status Cluster::Resume(uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0 || kill(n.pid, SIGCONT) != 0) return absl::FailedPreconditionError("cannot resume");
  return absl::OkStatus();
}

absl::Status Cluster::Restart(uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid > 0) return absl::FailedPreconditionError(absl::StrCat("node ", id, " is still running"));
  return Spawn(n);
}

absl::Status Cluster::WaitReady(uint64_t id, std::chrono::milliseconds timeout) {
  const auto& n = node(id);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options_.tls_dir.empty()) {
    std::ifstream in(options_.tls_dir + "/ca.pem");
    std::stringstream ca;
    ca << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca.str();
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateChannel(n.client_address, credentials);
  auto stub = v1::Admin::NewStub(channel);
  auto deadline = Clock::now() + timeout;
  std::string last;
  while (Clock::now() < deadline) {
    if (n.pid > 0) {
      int status;
      if (waitpid(n.pid, &status, WNOHANG) == n.pid) {
        nodes_.at(id - 1).pid = -1;
        return absl::InternalError(absl::StrCat("node ", id, " exited while starting:\n", LogTail(id)));
      }
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
    v1::DescribeClusterRequest req;
    v1::DescribeClusterResponse resp;
    grpc::Status s = stub->DescribeCluster(&ctx, req, &resp);
    if (s.ok() && resp.controller_id() != 0) return absl::OkStatus();
    last = s.ok() ? "no controller yet" : s.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("node ", id, " not ready in time (", last, "); log tail:\n", LogTail(id)));
}

std::string Cluster::LogTail(uint64_t id, int lines) const {
  std::ifstream in(node(id).log_path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) absl::StrAppend(&out, l, "\n");
  return out;
}

}  // namespace brook::testing
