// HTTPS for the metrics endpoint (brookd --metrics_tls_cert/--metrics_tls_key). Debian 12's civetweb cannot serve
// TLS with OpenSSL 3 (docs/security.md "Metrics endpoint"), so the exposer listens on a loopback port and this
// front accepts TLS connections on the metrics address, answers each request with one HTTP/1.0 GET of the same
// path from the exposer, and closes the connection. The certificate and key are re-read when their files change
// (checked at each connection, at most every 10 s). Connections are served one at a time with 10 s socket
// timeouts and requests of at most 16 KiB: a scrape endpoint, not a web server.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace brook::server {

class HttpsFront {
 public:
  // Listens on `listen_address` (host:port) and relays to the exposer on 127.0.0.1:`backend_port`.
  // INVALID_ARGUMENT naming the flag when the certificate or key cannot be loaded; UNAVAILABLE when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpsFront>> Start(const std::string& listen_address, int backend_port,
                                                           const std::string& cert_file,
                                                           const std::string& key_file);
  ~HttpsFront();

 private:
  HttpsFront() = default;
  void Serve();
  void Handle(int fd);

  struct Tls;
  std::unique_ptr<Tls> tls_;
  int listen_fd_ = -1;
  int backend_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace brook::server
