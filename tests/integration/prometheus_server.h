// Test helper: a real Prometheus server (Debian package `prometheus`) scraping brookd metrics endpoints, and
// its HTTP query API read through a tiny HTTP/1.1 client on a loopback socket.
//
// The server is a child process started and killed by PID only (also if the test process dies: the child
// asks for SIGKILL on its parent's death); its config, TSDB and log live in one temporary directory removed on
// destruction unless BROOK_KEEP_TEST_DATA is set. Every wait has a deadline. Not thread-safe: one test thread.
//
// Header-only so that a test registered by the integration foreach list can use it without extra sources.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/harness/cluster.h"

namespace brook::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://`address``target` (address is "127.0.0.1:port"); one request per connection. Blocks up to
// `timeout` for each socket operation.
inline absl::StatusOr<HttpResponse> HttpGet(const std::string& address, const std::string& target,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::vector<std::string> hp = absl::StrSplit(address, ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address '", address, "'"));
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, hp[0].c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: ", address, "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError(absl::StrCat("send to ", address, " failed"));
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      close(fd);
      return absl::DeadlineExceededError(absl::StrCat("reading the response from ", address, " failed"));
    }
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);

  auto header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos || raw.size() < 12) {
    return absl::DataLossError(absl::StrCat("malformed HTTP response from ", address));
  }
  HttpResponse out;
  if (!absl::SimpleAtoi(raw.substr(9, 3), &out.status)) {
    return absl::DataLossError(absl::StrCat("malformed HTTP status line from ", address));
  }
  const std::string headers = absl::AsciiStrToLower(raw.substr(0, header_end));
  std::string body = raw.substr(header_end + 4);
  if (headers.find("transfer-encoding: chunked") == std::string::npos) {
    out.body = std::move(body);
    return out;
  }
  // Chunked: <hex size>[;ext]\r\n<data>\r\n ... 0\r\n\r\n
  for (size_t pos = 0;;) {
    auto eol = body.find("\r\n", pos);
    if (eol == std::string::npos) return absl::DataLossError("truncated chunked body");
    size_t size = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (size == 0) break;
    if (eol + 2 + size > body.size()) return absl::DataLossError("truncated chunk");
    out.body.append(body, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

// Percent-encodes everything but RFC 3986 unreserved characters (for a query-string value).
inline std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// One series of an instant-vector result.
struct PromSample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

class PrometheusServer {
 public:
  // Starts /usr/bin/prometheus (or $PROMETHEUS) on a free 127.0.0.1 port, scraping `targets` ("host:port" of
  // /metrics endpoints; target i gets the label node="i+1") every `scrape_interval`, and waits until it is
  // ready or `timeout` passes.
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::vector<std::string>& targets, std::chrono::milliseconds scrape_interval = std::chrono::seconds(1),
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const char* env = std::getenv("PROMETHEUS");
    const std::string binary = env != nullptr ? env : "/usr/bin/prometheus";
    if (!std::filesystem::exists(binary)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Prometheus not found at '", binary, "' (Debian package `prometheus`; scripts/install-deps.sh)"));
    }
    std::unique_ptr<PrometheusServer> p(new PrometheusServer());
    char tmpl[] = "/tmp/brook-prometheus-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
    p->root_ = tmpl;
    p->address_ = absl::StrCat("127.0.0.1:", FreePort());
    p->log_path_ = p->root_ + "/prometheus.log";
    const std::string config_path = p->root_ + "/prometheus.yml";
    {
      const auto interval = absl::StrCat(scrape_interval.count(), "ms");
      std::ofstream config(config_path);
      config << "global:\n  scrape_interval: " << interval << "\n  scrape_timeout: " << interval
             << "\n  evaluation_interval: " << interval << "\nscrape_configs:\n  - job_name: brook\n"
             << "    static_configs:\n";
      for (size_t i = 0; i < targets.size(); ++i) {
        config << "      - targets: ['" << targets[i] << "']\n        labels: {node: '" << i + 1 << "'}\n";
      }
      if (!config) return absl::InternalError(absl::StrCat("cannot write ", config_path));
    }
    std::vector<std::string> args = {
        binary,
        absl::StrCat("--config.file=", config_path),
        absl::StrCat("--storage.tsdb.path=", p->root_, "/data"),
        absl::StrCat("--web.listen-address=", p->address_),
    };
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      // Die with the test, even if it crashes before the destructor runs.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    p->pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
        p->pid_ = -1;
        return absl::InternalError(
            absl::StrCat("prometheus exited with status ", status, " while starting; log:\n", p->LogTail()));
      }
      auto ready = HttpGet(p->address_, "/-/ready", std::chrono::seconds(1));
      if (ready.ok() && ready->status == 200) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("prometheus on ", p->address_, " not ready in time; log:\n", p->LogTail()));
  }

  // SIGTERM by PID, SIGKILL if it has not exited within 5 s; then removes the temporary directory.
  ~PrometheusServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() >= deadline) {
          kill(pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (std::getenv("BROOK_KEEP_TEST_DATA") == nullptr && !root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  const std::string& address() const { return address_; }

  // Evaluates `promql` as an instant query (GET /api/v1/query) and returns its vector result. The raw response
  // (or the error) is kept for failure messages: last_response().
  absl::StatusOr<std::vector<PromSample>> Query(const std::string& promql) {
    last_response_ = absl::StrCat("query: ", promql, "\n");
    auto resp = HttpGet(address_, absl::StrCat("/api/v1/query?query=", UrlEncode(promql)));
    if (!resp.ok()) {
      absl::StrAppend(&last_response_, "error: ", resp.status().ToString());
      return resp.status();
    }
    absl::StrAppend(&last_response_, "HTTP ", resp->status, ": ", resp->body);
    google::protobuf::Struct json;
    if (auto s = google::protobuf::util::JsonStringToMessage(resp->body, &json); !s.ok()) {
      return absl::DataLossError(absl::StrCat("response is not JSON: ", s.ToString()));
    }
    const auto& f = json.fields();
    if (f.count("status") == 0 || f.at("status").string_value() != "success" || f.count("data") == 0) {
      return absl::InternalError(absl::StrCat("query failed: ", resp->body));
    }
    const auto& data = f.at("data").struct_value().fields();
    if (data.count("resultType") == 0 || data.at("resultType").string_value() != "vector") {
      return absl::InvalidArgumentError(absl::StrCat("not an instant vector: ", resp->body));
    }
    std::vector<PromSample> out;
    for (const auto& series : data.at("result").list_value().values()) {
      const auto& sf = series.struct_value().fields();
      PromSample sample;
      if (sf.count("metric") > 0) {
        for (const auto& [k, v] : sf.at("metric").struct_value().fields()) sample.labels[k] = v.string_value();
      }
      // "value": [<unix time>, "<value as a string>"]
      if (sf.count("value") == 0 || sf.at("value").list_value().values_size() != 2 ||
          !absl::SimpleAtod(sf.at("value").list_value().values(1).string_value(), &sample.value)) {
        return absl::DataLossError(absl::StrCat("malformed sample in: ", resp->body));
      }
      out.push_back(std::move(sample));
    }
    return out;
  }
  const std::string& last_response() const { return last_response_; }

  // The last lines of Prometheus's log, for failure messages.
  std::string LogTail(int lines = 30) const {
    std::ifstream in(log_path_);
    std::deque<std::string> tail;
    for (std::string line; std::getline(in, line);) {
      tail.push_back(line);
      if (static_cast<int>(tail.size()) > lines) tail.pop_front();
    }
    std::string out;
    for (const auto& l : tail) absl::StrAppend(&out, l, "\n");
    return out;
  }

 private:
  PrometheusServer() = default;

  std::string root_;
  std::string address_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::string last_response_;
};

}  // namespace brook::testing
