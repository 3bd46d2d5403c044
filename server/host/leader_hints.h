// Who leads the partitions this node hosts no replica of. Once a cluster has more nodes than a partition has
// replicas (after a node joins, or a move), a node asked for GetMetadata or DescribeTopic must still name every
// partition's leader, or clients could not find it. Each node announces to every member, twice a second
// (MessageBatch.leaders_announced), the partition groups it leads and serves (with their terms) that the member
// holds no vote in: a voter learns its leader from the group's own messages. Each node keeps the latest
// announcement per sender and answers, for a group it does not host, the announcer with the highest term heard
// within kTtl. A hint is only a hint: the leader itself still checks every request (NotLeader otherwise).
//
// Loop thread only. Cost: one batch per member per kInterval, of 16 bytes per led group the member holds no vote
// in (empty when every node holds every partition); on receipt, one map per sender (at most
// Limits::kMaxPartitionsPerCluster entries; more are ignored).
#pragma once

#include <chrono>
#include <map>

#include "brook/internal/transport.pb.h"
#include "server/host/context.h"

namespace brook::server {

class LeaderHints {
 public:
  explicit LeaderHints(HostContext* ctx) : ctx_(ctx) {}

  struct Hint {
    raft::NodeId leader = 0;
    raft::Term term = 0;
  };

  // A peer's announcement; true when a group's hinted leader changed (the cluster view is then out of date).
  bool OnAnnouncement(const internal::MessageBatch& batch, Clock::TimePoint now);
  // Announces this node's led groups to every member when kInterval has passed.
  void Announce(Clock::TimePoint now);
  // The hinted leader of every group some member announced within kTtl.
  std::map<uint64_t, Hint> Current(Clock::TimePoint now) const;
  // Whether some member's last announcement named any group (the view must then drop hints as they expire).
  bool any() const;

  static constexpr std::chrono::milliseconds kInterval{500};
  static constexpr std::chrono::milliseconds kTtl{3000};

 private:
  struct Announced {
    Clock::TimePoint at;
    std::map<uint64_t, raft::Term> groups;
  };
  HostContext* const ctx_;
  Clock::TimePoint next_{};
  std::map<raft::NodeId, Announced> by_node_;
};

}  // namespace brook::server
