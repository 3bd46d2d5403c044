#include "server/metrics/https_front.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace brook::server {
namespace {

constexpr size_t kMaxRequestBytes = 16 << 10;
constexpr size_t kMaxResponseBytes = 64 << 20;

void SetTimeouts(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_size, ":", st.st_ino, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

// The exposer's answer to GET `path` (HTTP/1.0: it closes the connection after answering), or "".
std::string FetchBackend(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  SetTimeouts(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 && out.size() < kMaxResponseBytes) out.append(buf, n);
    }
  }
  close(fd);
  return out;
}

}  // namespace

struct HttpsFront::Tls {
  std::string cert_file, key_file, stamp;
  std::chrono::steady_clock::time_point checked;
  std::mutex mu;
  SSL_CTX* ctx = nullptr;  // guarded by mu
  ~Tls() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
  // Loads (or, when the files changed, reloads) the certificate and key; the old context stays on failure.
  absl::Status Load() {
    SSL_CTX* fresh = SSL_CTX_new(TLS_server_method());
    if (fresh == nullptr) return absl::InternalError("OpenSSL cannot make a TLS context");
    SSL_CTX_set_min_proto_version(fresh, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(fresh, cert_file.c_str()) != 1) {
      SSL_CTX_free(fresh);
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics_tls_cert=", cert_file, ": cannot be read as a PEM certificate chain"));
    }
    if (SSL_CTX_use_PrivateKey_file(fresh, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(fresh) != 1) {
      SSL_CTX_free(fresh);
      return absl::InvalidArgumentError(absl::StrCat("--metrics_tls_key=", key_file,
                                                     ": cannot be read, or is not the key of --metrics_tls_cert"));
    }
    std::lock_guard lock(mu);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    ctx = fresh;
    stamp = Stamp(cert_file) + "|" + Stamp(key_file);
    checked = std::chrono::steady_clock::now();
    return absl::OkStatus();
  }
  void MaybeReload() {
    {
      std::lock_guard lock(mu);
      if (std::chrono::steady_clock::now() - checked < std::chrono::seconds(10)) return;
      checked = std::chrono::steady_clock::now();
      if (Stamp(cert_file) + "|" + Stamp(key_file) == stamp) return;
    }
    if (auto s = Load(); !s.ok()) LogError("metrics TLS certificate not reloaded: ", s.message());
  }
};

absl::StatusOr<std::unique_ptr<HttpsFront>> HttpsFront::Start(const std::string& listen_address, int backend_port,
                                                              const std::string& cert_file,
                                                              const std::string& key_file) {
  std::unique_ptr<HttpsFront> front(new HttpsFront());
  front->tls_ = std::make_unique<Tls>();
  front->tls_->cert_file = cert_file;
  front->tls_->key_file = key_file;
  if (auto s = front->tls_->Load(); !s.ok()) return s;
  front->backend_port_ = backend_port;
  const auto colon = listen_address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_addr ", listen_address, " is not host:port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string host = listen_address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = listen_address.substr(colon + 1);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics_addr ", listen_address, ": cannot resolve"));
  }
  int fd = socket(found->ai_family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 16) == 0;
  freeaddrinfo(found);
  if (!bound) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on --metrics_addr ", listen_address,
                                               " (in use, or not an address of this machine?)"));
  }
  front->listen_fd_ = fd;
  front->thread_ = std::thread([f = front.get()] {
    NameThisThread("brook-https");
    f->Serve();
  });
  return front;
}

HttpsFront::~HttpsFront() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpsFront::Serve() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    SetTimeouts(fd);
    tls_->MaybeReload();
    Handle(fd);
    close(fd);
  }
}

void HttpsFront::Handle(int fd) {
  SSL* ssl = nullptr;
  {
    std::lock_guard lock(tls_->mu);
    ssl = SSL_new(tls_->ctx);
  }
  if (ssl == nullptr) return;
  SSL_set_fd(ssl, fd);
  std::string request;
  if (SSL_accept(ssl) == 1) {
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
      const int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) break;
      request.append(buf, n);
    }
  }
  std::string response;
  const auto line_end = request.find("\r\n");
  const auto sp1 = request.find(' ');
  const auto sp2 = sp1 == std::string::npos ? std::string::npos : request.find(' ', sp1 + 1);
  if (line_end != std::string::npos && sp2 != std::string::npos && sp2 < line_end &&
      request.compare(0, 4, "GET ") == 0) {
    response = FetchBackend(backend_port_, request.substr(sp1 + 1, sp2 - sp1 - 1));
    if (response.empty()) response = "HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
  } else if (!request.empty()) {
    response = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  }
  for (size_t sent = 0; sent < response.size();) {
    const int n = SSL_write(ssl, response.data() + sent,
                            static_cast<int>(std::min<size_t>(response.size() - sent, 1 << 20)));
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  ERR_clear_error();
}

}  // namespace brook::server
