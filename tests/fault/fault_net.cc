#include "tests/fault/fault_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace brook::testing {
namespace {

constexpr size_t kBufferCap = 256 << 10;  // per direction per connection; beyond it the proxy stops reading
constexpr size_t kChunk = 64 << 10;
constexpr int kPollMs = 5;  // how quickly a changed cut takes effect

void NonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes as much of `buf` as the socket takes; false when the socket failed.
bool Drain(int fd, std::string& buf, std::atomic<uint64_t>& counter) {
  while (!buf.empty()) {
    ssize_t n = send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    buf.erase(0, static_cast<size_t>(n));
    counter.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  }
  return true;
}

// Reads what is available into `buf` up to the cap; false on EOF or error.
bool Fill(int fd, std::string& buf) {
  char chunk[kChunk];
  while (buf.size() < kBufferCap) {
    ssize_t n = recv(fd, chunk, std::min(sizeof(chunk), kBufferCap - buf.size()), 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    buf.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

FaultNet::FaultNet() : thread_([this] { Run(); }) {}

FaultNet::~FaultNet() {
  stop_.store(true);
  thread_.join();
  for (auto& c : conns_) Close(c, false);
  for (auto& l : links_) close(l.listen_fd);
}

absl::StatusOr<std::string> FaultNet::AddLink(uint64_t from, uint64_t to, const std::string& target) {
  auto colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("target '", target, "' is not host:port"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("proxy cannot listen: errno ", errno));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  NonBlocking(fd);
  std::lock_guard lock(mu_);
  links_.push_back(Link{from, to, fd, port});
  return absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
}

void FaultNet::SetBlocked(uint64_t from, uint64_t to, bool blocked) {
  std::lock_guard lock(mu_);
  if (blocked) {
    blocked_.insert({from, to});
  } else {
    blocked_.erase({from, to});
  }
}

bool FaultNet::Blocked(uint64_t from, uint64_t to) const {
  std::lock_guard lock(mu_);
  return blocked_.contains({from, to});
}

void FaultNet::HealAll() {
  std::lock_guard lock(mu_);
  blocked_.clear();
}

void FaultNet::ResetConnections(uint64_t a, uint64_t b) {
  std::lock_guard lock(mu_);
  reset_.insert({a, b});
  reset_.insert({b, a});
}

void FaultNet::Close(Conn& c, bool reset) {
  if (c.closed) return;
  for (int fd : {c.dialer_fd, c.target_fd}) {
    if (fd < 0) continue;
    if (reset) {
      linger l{1, 0};  // close with RST instead of FIN
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(fd);
  }
  c.closed = true;
}

void FaultNet::Accept(const Link& link) {
  for (int i = 0; i < 16; ++i) {
    int fd = accept4(link.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    accepted_.fetch_add(1, std::memory_order_relaxed);
    int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(link.target_port));
    // Loopback connects answer at once (refused when the node is down, accepted by the kernel when it is
    // stopped), so a blocking connect does not stall the loop.
    if (connect(target, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(target);
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(target, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    NonBlocking(fd);
    NonBlocking(target);
    Conn c;
    c.from = link.from;
    c.to = link.to;
    c.dialer_fd = fd;
    c.target_fd = target;
    conns_.push_back(std::move(c));
  }
}

void FaultNet::Run() {
  std::vector<pollfd> fds;
  std::vector<Link> links;
  std::set<std::pair<uint64_t, uint64_t>> blocked;
  while (!stop_.load()) {
    {
      std::lock_guard lock(mu_);
      links = links_;
      blocked = blocked_;
      for (auto& c : conns_) {
        if (reset_.contains({c.from, c.to})) Close(c, true);
      }
      reset_.clear();
    }
    for (auto& c : conns_) {
      if (c.hung_up && !blocked.contains({c.from, c.to}) && !blocked.contains({c.to, c.from})) Close(c, false);
    }
    std::erase_if(conns_, [](const Conn& c) { return c.closed; });
    fds.clear();
    for (const auto& l : links) fds.push_back(pollfd{l.listen_fd, POLLIN, 0});
    // Per connection: [dialer, target]. Forward bytes go from -> to, backward bytes to -> from.
    for (const auto& c : conns_) {
      const bool fwd_open = !blocked.contains({c.from, c.to});
      const bool back_open = !blocked.contains({c.to, c.from});
      short dialer = 0;
      short target = 0;
      if (fwd_open && c.forward.size() < kBufferCap) dialer |= POLLIN;
      if (back_open && !c.backward.empty()) dialer |= POLLOUT;
      if (back_open && c.backward.size() < kBufferCap) target |= POLLIN;
      if (fwd_open && !c.forward.empty()) target |= POLLOUT;
      // A hung-up connection is not polled (it would report the hang-up at once, forever) until the cut heals.
      fds.push_back(pollfd{c.hung_up ? -1 : c.dialer_fd, dialer, 0});
      fds.push_back(pollfd{c.hung_up ? -1 : c.target_fd, target, 0});
    }
    int n = poll(fds.data(), fds.size(), kPollMs);
    if (n <= 0) continue;
    for (size_t i = 0; i < links.size(); ++i) {
      if (fds[i].revents & POLLIN) Accept(links[i]);
    }
    const size_t base = links.size();
    for (size_t i = 0; base + 2 * i + 1 < fds.size() && i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      const pollfd& d = fds[base + 2 * i];
      const pollfd& t = fds[base + 2 * i + 1];
      bool ok = true;
      if (d.revents & POLLIN) ok = ok && Fill(c.dialer_fd, c.forward);
      if (t.revents & POLLIN) ok = ok && Fill(c.target_fd, c.backward);
      if (ok && (t.revents & POLLOUT)) ok = Drain(c.target_fd, c.forward, bytes_);
      if (ok && (d.revents & POLLOUT)) ok = Drain(c.dialer_fd, c.backward, bytes_);
      if (ok && ((d.revents | t.revents) & (POLLERR | POLLHUP))) {
        // The far side went away. While a direction is held the other end must not learn it (a partitioned
        // network would not tell it either): close once the cut heals.
        if (blocked.contains({c.from, c.to}) || blocked.contains({c.to, c.from})) {
          c.hung_up = true;
        } else {
          ok = false;
        }
      }
      if (!ok) Close(c, false);
    }
  }
}

}  // namespace brook::testing
