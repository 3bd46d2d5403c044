// A fault-injecting TCP proxy for the node-to-node links of a test cluster.
//
// Every ordered pair of nodes (from, to) gets its own listening port on 127.0.0.1 that forwards to `to`'s
// node-to-node server; node `from` is told (through its --initial_members) to dial `to` there. All traffic
// between the nodes therefore crosses this proxy, and the nemesis cuts it here: SetBlocked(a, b) stops every byte
// that node a sends to node b, on the connections a opened to b and on those b opened to a. Held bytes stay in
// the kernel's socket buffers, as on a network that silently drops packets while TCP retransmits: when the cut
// heals, the connections carry on (or time out, as a real network would make them). ResetConnections closes
// connections abruptly, like a middlebox that sends RSTs.
//
// One thread polls every socket. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace brook::testing {

class FaultNet {
 public:
  FaultNet();
  ~FaultNet();  // Stops the poll thread and closes every socket.

  FaultNet(const FaultNet&) = delete;
  FaultNet& operator=(const FaultNet&) = delete;

  // Opens a listening port that forwards to `target` ("127.0.0.1:port") and carries node `from`'s connections to
  // node `to`. Returns the address to give node `from`.
  absl::StatusOr<std::string> AddLink(uint64_t from, uint64_t to, const std::string& target);

  // While blocked, no byte from node `from` reaches node `to` (either connection direction).
  void SetBlocked(uint64_t from, uint64_t to, bool blocked);
  bool Blocked(uint64_t from, uint64_t to) const;
  // Unblocks every pair.
  void HealAll();
  // Closes every open connection between nodes a and b (both directions) with a TCP reset.
  void ResetConnections(uint64_t a, uint64_t b);

  uint64_t bytes_forwarded() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t connections_accepted() const { return accepted_.load(std::memory_order_relaxed); }

 private:
  struct Link {
    uint64_t from = 0;
    uint64_t to = 0;
    int listen_fd = -1;
    int target_port = 0;
  };
  struct Conn {
    uint64_t from = 0;  // the node that dialed
    uint64_t to = 0;
    int dialer_fd = -1;    // accepted from node `from`
    int target_fd = -1;    // connected to node `to`
    std::string forward;   // bytes from `from` waiting to be written to `to`
    std::string backward;  // bytes from `to` waiting to be written to `from`
    bool hung_up = false;  // a socket failed while its direction was held: closed once the cut heals
    bool closed = false;
  };

  void Run();
  void Accept(const Link& link);
  void Close(Conn& c, bool reset);

  mutable std::mutex mu_;
  std::vector<Link> links_;                          // guarded by mu_
  std::set<std::pair<uint64_t, uint64_t>> blocked_;  // guarded by mu_
  std::set<std::pair<uint64_t, uint64_t>> reset_;    // pending resets, guarded by mu_
  std::vector<Conn> conns_;                          // poll thread only
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

}  // namespace brook::testing
