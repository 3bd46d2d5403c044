// Node-to-node messages as a node receives them: the input is a brook.internal.MessageBatch from the wire (a peer,
// or anyone who can reach the node port), every message is converted with server/codec/raft_codec.h FromProto and
// stepped, as server/host/host.cc Host::Step does, into a live 3-node Raft group over MemoryLogs: group 0 drives
// a metadata machine, group 1 a partition machine (whose host drops messages with corrupt entry data, as
// PartitionGroup::Accepts does); other group ids are not hosted and dropped. Each group has elected node 1,
// committed a few entries and compacted node 1's log (so snapshots flow) before the input arrives.
//
// The batch goes to node to_node (1..3; the transport refuses a batch for another node). After each message the
// groups run to quiescence (bounded), persisting every Ready as the host would (a Ready storage would refuse is a
// fail-stop, so a crash) and applying committed entries and snapshots to the machines; at the end the nodes of
// the groups the input reached tick for two election timeouts. Messages between the nodes go through ToProto and
// FromProto. Raft-core findings not fixed yet are held back by PendingRaftValidationRefuses (below).
//
// Properties: no crash; every node's CheckInvariants holds after every step; every Ready can be persisted and
// applied in order; ToProto/FromProto round-trips every message Raft sends.
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "brook/internal/transport.pb.h"
#include "raft/memory_log.h"
#include "raft/sim/replica.h"
#include "server/codec/entry_codec.h"
#include "server/codec/raft_codec.h"
#include "server/machines/metadata_machine.h"
#include "server/machines/partition_machine.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::server {
namespace {

using fuzz::Fail;

constexpr int kNodes = 3;
constexpr int kMaxMessagesPerInput = 32;  // bounds the work per input
constexpr int kMaxRounds = 64;  // Ready/deliver rounds per quiescence; a group that never settles moves on
constexpr int kElectionTicks = 10;

// ---- Raft-core findings not fixed yet
// ---------------------------------------------------------------------------
//
// Messages that crash a node or break its invariants today, found by this target (docs/fuzzing.md "Open
// findings"). Message validation is being added to raft/ (RaftNode::Step) separately; until it lands, the harness
// drops these messages before Step, internal traffic included, so fuzzing goes on past them. Remove a rule when
// the core refuses its messages itself. BROOK_FUZZ_RAFT_SHIM=0 turns the rules off, to reproduce the findings.
const bool kShim = [] {
  const char* v = std::getenv("BROOK_FUZZ_RAFT_SHIM");
  return v == nullptr || std::string_view(v) != "0";
}();

bool DistinctMembers(const raft::ConfState& c) {
  std::set<raft::NodeId> members(c.voters.begin(), c.voters.end());
  members.insert(c.learners.begin(), c.learners.end());
  const std::set<raft::NodeId> outgoing(c.voters_outgoing.begin(), c.voters_outgoing.end());
  return members.size() == c.voters.size() + c.learners.size() && outgoing.size() == c.voters_outgoing.size();
}

// The end offset of the entry at `index` as `node` holds it (its log, or the log start `log` records).
std::optional<raft::Offset> EndOffsetAt(const raft::RaftNode& node, const raft::MemoryLog& log,
                                        raft::Index index) {
  if (index == log.Snapshot().index) return log.Snapshot().next_offset;
  auto e = node.entries(index, index + 1);
  if (!e.ok() || e->empty()) return std::nullopt;
  return e->front().end_offset();
}

bool PendingRaftValidationRefuses(const raft::RaftNode& node, const raft::MemoryLog& log, const raft::Message& m) {
  if (!kShim) return false;
  // R1: an acknowledgement of an index past the leader's last: the leader takes it as its match (match > last).
  if (m.type == raft::MessageType::kAppendResponse && !m.reject && m.index > node.last_index()) return true;
  // R2: an append whose entries do not follow its index one by one: they reach the Ready as they are, and storage
  // refuses them (a fail-stop).
  if (m.type == raft::MessageType::kAppend) {
    for (size_t i = 0; i < m.entries.size(); ++i) {
      if (m.entries[i].index != m.index + 1 + i) return true;
    }
  }
  if (m.type == raft::MessageType::kAppend) {
    // R5: an entry of an unknown type (raft::EntryType has 0..2), or with records but not normal: appended as it
    // is, storage refuses it (a fail-stop); and a partition host's CRC check looks at normal entries only.
    for (const auto& e : m.entries) {
      if (e.type > raft::EntryType::kConfChange || (e.record_count > 0 && e.type != raft::EntryType::kNormal)) {
        return true;
      }
    }
    // R6: entries whose base offsets do not continue from the entry they follow (offsets are a function of the log
    // prefix, docs/decisions.md D3): storage refuses them (a fail-stop).
    std::optional<raft::Offset> next = EndOffsetAt(node, log, m.index);
    for (const auto& e : m.entries) {
      if (next.has_value() && e.base_offset != *next) return true;
      next = e.end_offset();
    }
  }
  // R3: a snapshot whose membership names a node twice (voters {3, 3}): installed as it is, a node is counted
  // twice in quorums and the leader's progress map no longer matches its members.
  if (m.type == raft::MessageType::kSnapshot && !DistinctMembers(m.snapshot.conf)) return true;
  // R4: a snapshot whose membership has no voters (only outgoing ones): the node installs it, wins an election of
  // an empty configuration and leads with progresses for no members.
  if (m.type == raft::MessageType::kSnapshot && m.snapshot.conf.voters.empty()) return true;
  return false;
}

void StepInto(raft::sim::Replica& r, const raft::Message& m) {
  raft::RaftNode& node = *r.raft;
  if (PendingRaftValidationRefuses(node, *r.log, m)) return;
  (void)node.Step(m);  // an error (a message for another node) is logged and dropped, as Host::Step does
}

bool SameMessage(const raft::Message& a, const raft::Message& b) {
  bool same = a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
              a.log_term == b.log_term && a.index == b.index && a.entries == b.entries && a.commit == b.commit &&
              a.reject == b.reject && a.reject_hint == b.reject_hint && a.reject_hint_term == b.reject_hint_term &&
              a.context == b.context;
  if (a.type == raft::MessageType::kSnapshot) {
    same = same && a.snapshot == b.snapshot && a.snapshot_data == b.snapshot_data;
  }
  return same;
}

// What a partition group proposes: a record batch; the metadata group: a CreateTopic.
std::pair<std::string, uint32_t> Proposal(const PartitionMachine*, int i) {
  v1::ProduceRequest req;
  req.set_producer_id(7);
  req.set_sequence(i);
  req.add_records()->set_value(absl::StrCat("record ", i));
  std::string data = EncodeRecordBatch(req);
  StampAppendTime(data, 1000 + i);
  return {data, 1};
}
std::pair<std::string, uint32_t> Proposal(const MetadataMachine*, int i) {
  internal::MetadataCommand cmd;
  auto* t = cmd.mutable_create_topic()->mutable_topic();
  t->set_name(absl::StrCat("topic-", i));
  t->add_partitions()->add_replicas(1);
  return {cmd.SerializeAsString(), 0};
}

template <typename Machine>
class Group {
 public:
  explicit Group(raft::GroupId id) : id_(id) {}

  // Three voters, node 1 elected, three entries committed everywhere, node 1's log compacted to its applied index.
  void Setup() {
    raft::ConfState conf;
    for (raft::NodeId id = 1; id <= kNodes; ++id) conf.voters.push_back(id);
    for (raft::NodeId id = 1; id <= kNodes; ++id) {
      Node& n = nodes_[id];
      n.replica.id = id;
      n.replica.config.group = id_;
      n.replica.config.election_ticks = kElectionTicks;
      n.replica.config.seed = id_ * 1000 + id;
      n.replica.conf = conf;
      n.replica.log->ApplySnapshot(raft::SnapshotMeta{0, 0, 0, conf}, "");
      if (!n.machine.Load({}, LogPoint{}).ok() || !n.replica.Start().ok()) Fail("setup: a node does not start");
    }
    nodes_[1].replica.raft->Campaign();
    Settle();
    for (int i = 0; i < 3; ++i) {
      auto [data, records] = Proposal(&nodes_[1].machine, i);
      if (!nodes_[1].replica.raft->Propose(std::move(data), records).ok()) Fail("setup: a proposal fails");
      Settle();
    }
    raft::sim::Replica& leader = nodes_[1].replica;
    if (!leader.log->Compact(leader.applied, leader.conf, nodes_[1].machine.Snapshot()).ok()) {
      Fail("setup: compaction fails");
    }
    CheckInvariants();
  }

  // A message from the network for node `to`, as Host::Step hands it to the group's Raft core.
  void Receive(raft::NodeId to, const raft::Message& m) {
    if (!Accepts(m)) return;
    StepInto(nodes_.at(to).replica, m);
    Settle();
  }

  // Ready and deliver until nothing moves (at most kMaxRounds), then check every node.
  void Settle() {
    for (int round = 0; round < kMaxRounds; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_) moved |= ProcessReady(n);
      moved |= Deliver();
      if (!moved) break;
    }
    network_.clear();
    CheckInvariants();
  }

  void TickAll() {
    for (auto& [id, n] : nodes_) n.replica.raft->Tick();
    Settle();
  }

 private:
  struct Node {
    raft::sim::Replica replica;
    Machine machine;
    bool broken = false;  // the machine refused an entry or snapshot: the host stops applying (set_broken)
  };

  // PartitionGroup::Accepts: a partition's entries must carry verified data; the metadata group takes all.
  bool Accepts(const raft::Message& m) const {
    if constexpr (std::is_same_v<Machine, PartitionMachine>) {
      for (const auto& e : m.entries) {
        if (e.type == raft::EntryType::kNormal && !VerifyEntryData(e.data).ok()) return false;
      }
    }
    return true;
  }

  void CheckInvariants() const {
    for (const auto& [id, n] : nodes_) {
      if (auto s = n.replica.raft->CheckInvariants(); !s.ok()) {
        fuzz::AllocationBoundPause pause;
        Fail(absl::StrCat("g", id_, " invariant: ", s.message()));
      }
    }
  }

  bool ProcessReady(Node& n) {
    raft::RaftNode& raft = *n.replica.raft;
    if (!raft.HasReady()) return false;
    raft::Ready rd = raft.GetReady();
    for (auto& m : rd.messages) Send(std::move(m));
    if (auto s = Persist(n.replica, rd); !s.ok()) {
      fuzz::AllocationBoundPause pause;
      Fail(absl::StrCat("g", id_, " n", n.replica.id, ": storage refuses a Ready (a fail-stop): ", s.message()));
    }
    if (auto s = n.replica.Apply(rd); !s.ok()) {
      fuzz::AllocationBoundPause pause;
      Fail(absl::StrCat("g", id_, ": committed entries out of order: ", s.message()));
    }
    ApplyToMachine(n, rd);
    for (auto& m : rd.messages_after_persist) Send(std::move(m));
    raft.Advance(rd);
    return true;
  }

  // As raft::sim::Replica::Persist, refusing what storage/store.cc Store::Write refuses (the host then stops the
  // node: server/host/group_commit.cc): entries that do not start within the log, indexes or offsets that do not
  // follow one another or the log, records on an entry that is not normal.
  static absl::Status Persist(raft::sim::Replica& r, const raft::Ready& rd) {
    if (rd.snapshot) {
      r.log->ApplySnapshot(*rd.snapshot, rd.snapshot_data);
      r.applied = rd.snapshot->index;
      r.conf = rd.snapshot->conf;
    }
    if (!rd.entries.empty()) {
      const raft::Entry& front = rd.entries.front();
      const raft::MemoryLog& log = *r.log;
      if (front.index < log.FirstIndex() || front.index > log.LastIndex() + 1) {
        return absl::InvalidArgumentError(absl::StrCat("entries start at index ", front.index, ", outside [",
                                                       log.FirstIndex(), ", ", log.LastIndex() + 1, "]"));
      }
      for (size_t i = 0; i < rd.entries.size(); ++i) {
        const raft::Entry& e = rd.entries[i];
        if (i > 0 && (e.index != rd.entries[i - 1].index + 1 || e.base_offset != rd.entries[i - 1].end_offset())) {
          return absl::InvalidArgumentError(absl::StrCat("entry ", e.index, " does not follow the one before"));
        }
        if (e.record_count > 0 && e.type != raft::EntryType::kNormal) {
          return absl::InvalidArgumentError(absl::StrCat("entry ", e.index, " has records but is not normal"));
        }
      }
      raft::Offset expected = log.NextOffset();
      if (front.index <= log.LastIndex()) {
        auto old = log.Entries(front.index, front.index + 1, UINT64_MAX);
        if (!old.ok() || old->empty()) return absl::InternalError("the log lost an entry");
        expected = old->front().base_offset;
      }
      if (front.base_offset != expected) {
        return absl::InvalidArgumentError(absl::StrCat("entry ", front.index, " has base offset ",
                                                       front.base_offset, " but the log has ", expected));
      }
      if (auto s = r.log->Append(rd.entries); !s.ok()) return s;
    }
    if (rd.hard_state) r.hard_state = *rd.hard_state;
    return absl::OkStatus();
  }

  // server/host/machine_group.h Apply: the snapshot, then the committed entries, until the machine refuses one.
  void ApplyToMachine(Node& n, const raft::Ready& rd) {
    StateDelta delta;
    if (rd.snapshot) {
      n.broken =
          !n.machine.Restore(rd.snapshot_data, LogPoint{rd.snapshot->index, rd.snapshot->next_offset}, &delta)
               .ok();
    }
    for (const auto& e : rd.committed) {
      if (n.broken) break;
      n.broken = !n.machine.Apply(e, &delta).ok();
    }
  }

  // Over the wire: ToProto, then FromProto on the other side.
  void Send(raft::Message m) {
    internal::RaftMessage wire;
    ToProto(m, &wire);
    raft::Message back = FromProto(wire);
    if (!SameMessage(m, back)) Fail(absl::StrCat("ToProto/FromProto changed ", raft::DescribeMessage(m)));
    network_.push_back(std::move(back));
  }

  bool Deliver() {
    std::deque<raft::Message> batch;
    batch.swap(network_);
    for (const auto& m : batch) {
      auto it = nodes_.find(m.to);
      if (it == nodes_.end() || !Accepts(m)) continue;
      StepInto(it->second.replica, m);
    }
    return !batch.empty();
  }

  const raft::GroupId id_;
  std::map<raft::NodeId, Node> nodes_;
  std::deque<raft::Message> network_;
};

void FuzzOne(const uint8_t* data, size_t size) {
  internal::MessageBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return;
  const raft::NodeId to = batch.to_node();
  if (to < 1 || to > kNodes) return;  // the transport refuses a batch addressed to another node
  Group<MetadataMachine> metadata(0);
  Group<PartitionMachine> partition(1);
  {
    fuzz::AllocationBoundPause pause;  // the setup's allocations do not depend on the input
    metadata.Setup();
    partition.Setup();
  }
  int stepped = 0;
  bool to_metadata = false, to_partition = false;
  for (const auto& gm : batch.messages()) {
    if (++stepped > kMaxMessagesPerInput) break;
    const raft::Message m = FromProto(gm.message());
    if (gm.group_id() == 0) {
      metadata.Receive(to, m);
      to_metadata = true;
    } else if (gm.group_id() == 1) {
      partition.Receive(to, m);
      to_partition = true;
    }  // else: not hosted here, dropped
  }
  // Time goes on for the groups the input reached.
  for (int t = 0; t < 2 * kElectionTicks; ++t) {
    if (to_metadata) metadata.TickAll();
    if (to_partition) partition.TickAll();
  }
}

}  // namespace
}  // namespace brook::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook::fuzz::AllocationBound bound(size, 64 << 10);
  brook::server::FuzzOne(data, size);
  return 0;
}
