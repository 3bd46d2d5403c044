// What the host's handlers share: the node's options, clock, storage, network and groups, and the few rules
// every handler applies the same way (who leads, who is heard from). Owned by the Host; loop thread only.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "grpcpp/support/status.h"
#include "raft/raft.h"
#include "server/host/clock.h"
#include "server/host/compaction_worker.h"
#include "server/host/disk_guard.h"
#include "server/host/host_metrics.h"
#include "server/host/network.h"
#include "server/host/registry.h"
#include "server/host/unsafe_break.h"
#include "storage/store.h"

namespace brook::server {

struct HostOptions {
  raft::NodeId node_id = 0;
  std::string cluster_id;
  // Voters of the metadata group when this node bootstraps it (first start with an empty data directory).
  std::vector<raft::NodeId> initial_members;
  // The node joined a running cluster (brookd --join): it bootstraps nothing and waits for the metadata group's
  // leader to add it (server/host/admission.h).
  bool joined = false;
  std::chrono::milliseconds tick{50};
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  // Quiet idle groups (docs/decisions.md D13, server/host/quiescence.h): a caught-up group stops ticking and
  // heartbeating; one liveness beat per member per heartbeat interval stands in for them.
  bool quiesce_idle_groups = true;
  // Concurrent plain Produces to one partition in one loop turn share one Raft entry (docs/decisions.md A21,
  // server/host/coalesce.h).
  bool coalesce_produces = true;
  // How often each partition's retention (topic config retention_ms / retention_bytes) is enforced.
  std::chrono::milliseconds retention_interval{5000};
  // Key compaction (docs/operations.md "Compaction"): how often the loop looks for a compacted partition due for
  // a pass. A partition is due when the records applied since its last pass are at least
  // max(compaction_min_dirty_records, the records its last pass left), or when some were applied and its last
  // pass is compaction_max_delay old, or when waiting alone lets a pass remove more (a kept tombstone expired;
  // records its lag held back are old enough). One pass at a time per node; compaction_max_key_bytes caps the key
  // map of a pass (key bytes + 64 per key; past it the pass compacts the prefix that fits and the next pass goes
  // on from there).
  std::chrono::milliseconds compaction_interval{1000};
  uint64_t compaction_min_dirty_records = 1000;
  std::chrono::milliseconds compaction_max_delay{600'000};
  uint64_t compaction_max_key_bytes = 64ull << 20;
  // Leader balancing (docs/operations.md "Leader balancing"): how often each node looks for partitions it leads
  // whose preferred replica (the first) is caught up and heard from, and hands them leadership; 0 turns it off
  // on this node. At most kMaxBalanceMoves moves start per look.
  std::chrono::milliseconds leader_balance_interval{10'000};
  // Replica moves (docs/operations.md "Moving replicas"): entry data a partition's leader sends each new replica
  // (a learner) per second while it copies the log, on average; 0 means no limit. Voters are never throttled.
  uint64_t move_bytes_per_sec = 32ull << 20;
  // Seeds the groups' election-timeout randomization (0: from the clock). Tests fix it.
  uint64_t seed = 0;
  // Disk-full guard (disk_guard.h): the data directory's filesystem and the free space kept in reserve; 0 turns it
  // off. `free_bytes` replaces the statvfs measurement (tests).
  std::string data_dir;
  uint64_t disk_reserve_bytes = 0;
  std::function<uint64_t()> free_bytes;
  // A deliberately broken safety rule, for the fault-injection suite to prove that its checker catches each
  // kind of violation (brookd --unsafe_break). kNone in every real deployment.
  UnsafeBreak unsafe_break = UnsafeBreak::kNone;
};

struct HostContext {
  const HostOptions* options;
  Clock* clock;
  storage::Store* store;
  Network* network;
  GroupRegistry* groups;
  HostMetrics* metrics = nullptr;
  DiskGuard* disk = nullptr;
  // Key compaction's worker (set by Host::Start / StartManual).
  CompactionWorker* compaction = nullptr;
  // The published ClusterView is out of date (topics, hosted partitions or the controller changed).
  bool cluster_dirty = true;
  // The node is stopping and has handed its leaderships away: it takes none back (it ignores a transfer's
  // "campaign now", and balances nothing).
  bool draining = false;

  raft::NodeId self() const { return options->node_id; }
  int64_t NowMs() const { return clock->UnixMillis(); }
  // UNAVAILABLE + NotLeader naming `g`'s leader and its client address (leader 0 when none is known, or when
  // this node leads but does not serve yet).
  grpc::Status NotLeaderFor(const Group& g) const;
  // Members of the metadata group (voters and learners) that are ACTIVE (not draining or removed), sorted: the
  // nodes placement and moves may pick.
  std::vector<raft::NodeId> ActiveMembers() const;
  // Every other node this one exchanges beats and announcements with, sorted: the metadata group's voters and
  // learners, and the transport's peers. A node that just joined knows the members from its Join answer before
  // the metadata snapshot names any, and its beats are how the controller learns it is up (Quiescence::Alive).
  std::vector<raft::NodeId> Peers() const;
  // The client address the metadata group records for node `id` (members.h), or "" when it has none.
  std::string ClientAddressOf(raft::NodeId id) const;
  // OK when this node leads `g` and takes proposals; else the status to answer (NotLeader, retry shortly, or
  // DATA_LOSS for a group that stopped applying).
  grpc::Status CheckLeaderReady(Group& g) const;
  // Proposes a metadata command on the controller; `done` gets the applied result (OK) or the failure (nullptr).
  using MetadataDone = std::function<void(const grpc::Status&, const MetadataApplied*)>;
  void ProposeMetadata(const internal::MetadataCommand& cmd, MetadataDone done) const;
  // A replica the leader heard from within an election timeout (the leader itself always counts). A follower that
  // died on an idle partition matches the commit index forever; it must still not count as in sync.
  // A quiet group's leader hears nothing from its followers, and its ticks stop: the node's liveness beats
  // (node_heard, server/host/quiescence.h) then say whether the replica's node is up.
  bool Heard(const raft::ReplicaProgress& p) const {
    if (p.id == options->node_id) return true;
    return p.ticks_since_heard <= options->election_ticks && (!node_heard || node_heard(p.id));
  }
  // Whether a batch came from node `id` within an election timeout (set by the Host).
  std::function<bool(raft::NodeId)> node_heard = nullptr;
};

}  // namespace brook::server
