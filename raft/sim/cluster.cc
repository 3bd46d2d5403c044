#include "raft/sim/cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/conf_change.h"

namespace brook::raft::sim {

Cluster::Cluster(Config base) : base_(std::move(base)) {
  if (!base_.is_cluster_node) {
    base_.is_cluster_node = [nodes = cluster_nodes_](NodeId id) { return nodes->contains(id); };
  }
}

absl::Status Cluster::AddNodes(int n, std::optional<ConfState> conf) {
  const NodeId first = replicas_.empty() ? 1 : replicas_.rbegin()->first + 1;
  for (int k = 0; k < n; ++k) cluster_nodes_->insert(first + k);
  ConfState initial;
  if (conf) {
    initial = *conf;
  } else {
    for (int k = 0; k < n; ++k) initial.voters.push_back(first + k);
  }
  for (int k = 0; k < n; ++k) {
    Replica& r = replicas_[first + k];
    r.id = first + k;
    r.config = base_;
    r.config.seed = base_.seed * 1000003 + r.id;
    r.conf = initial;
    // Bootstrap: the log starts with the initial membership (a joining node starts with nothing).
    if (!initial.voters.empty()) r.log->ApplySnapshot(SnapshotMeta{0, 0, 0, initial}, "");
    if (absl::Status s = r.Start(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, r] : replicas_) out.push_back(id);
  return out;
}

bool Cluster::ProcessReady(NodeId id, std::vector<std::string>* trace) {
  Replica& r = replicas_.at(id);
  if (r.down || !r.raft->HasReady()) return false;
  Ready rd = r.raft->GetReady();
  if (trace) trace->push_back(absl::StrCat("> n", id, " ready: ", DescribeReady(rd)));
  for (const Message& m : rd.messages) network_.push_back(m);
  absl::Status s = r.Persist(rd);
  if (s.ok()) s = r.Apply(rd);
  if (!s.ok() && trace) trace->push_back(absl::StrCat("  ERROR: ", s.ToString()));
  for (const Message& m : rd.messages_after_persist) network_.push_back(m);
  r.raft->Advance(rd);
  return true;
}

int Cluster::Deliver(std::optional<NodeId> to, const std::set<NodeId>& drop_to, std::vector<std::string>* trace) {
  int delivered = 0;
  std::deque<Message> keep;
  std::deque<Message> batch;
  batch.swap(network_);
  for (Message& m : batch) {
    if (to && m.to != *to && !drop_to.contains(m.to)) {
      keep.push_back(std::move(m));
      continue;
    }
    if (drop_to.contains(m.to)) {
      if (trace) trace->push_back(absl::StrCat("  dropped: ", DescribeMessage(m)));
      continue;
    }
    auto it = replicas_.find(m.to);
    if (it == replicas_.end() || it->second.down || !Connected(m.from, m.to)) continue;
    if (trace) trace->push_back(absl::StrCat("  ", DescribeMessage(m)));
    absl::Status s = it->second.raft->Step(m);
    if (!s.ok() && trace) trace->push_back(absl::StrCat("  ERROR: ", s.ToString()));
    ++delivered;
  }
  // Messages produced while delivering were appended to network_; keep FIFO order: old kept ones first.
  for (Message& m : network_) keep.push_back(std::move(m));
  network_.swap(keep);
  return delivered;
}

void Cluster::Stabilize(std::vector<std::string>* trace) {
  for (;;) {
    bool moved = false;
    for (auto& [id, r] : replicas_) moved |= ProcessReady(id, trace);
    moved |= Deliver(std::nullopt, {}, trace) > 0;
    if (!moved) {
      // Undeliverable messages (partitioned or to down nodes) are lost.
      network_.clear();
      return;
    }
  }
}

void Cluster::Tick(NodeId id, int n) {
  Replica& r = replicas_.at(id);
  if (r.down) return;
  for (int k = 0; k < n; ++k) r.raft->Tick();
}

void Cluster::Partition(const std::vector<std::vector<NodeId>>& groups) {
  cut_.clear();
  for (size_t a = 0; a < groups.size(); ++a) {
    for (size_t b = 0; b < groups.size(); ++b) {
      if (a == b) continue;
      for (NodeId x : groups[a]) {
        for (NodeId y : groups[b]) cut_.insert({x, y});
      }
    }
  }
}

absl::Status Cluster::Crash(NodeId id) {
  replicas_.at(id).Crash();
  return absl::OkStatus();
}

absl::Status Cluster::Restart(NodeId id) { return replicas_.at(id).Start(); }

std::string DescribeReady(const Ready& rd) {
  std::vector<std::string> parts;
  if (rd.hard_state) {
    parts.push_back(absl::StrCat("hs term=", rd.hard_state->term, " vote=", rd.hard_state->vote,
                                 " commit=", rd.hard_state->commit));
  }
  if (!rd.entries.empty()) {
    parts.push_back(absl::StrCat(
        "entries=[",
        absl::StrJoin(rd.entries, " ", [](std::string* out, const Entry& e) { out->append(DescribeEntry(e)); }),
        "]"));
  }
  if (rd.snapshot) parts.push_back(absl::StrCat("snapshot=", rd.snapshot->term, "/", rd.snapshot->index));
  if (!rd.committed.empty()) {
    parts.push_back(absl::StrCat("apply=", rd.committed.front().index, "..", rd.committed.back().index));
  }
  if (rd.conf_state) parts.push_back(absl::StrCat("conf ", DescribeConfState(*rd.conf_state)));
  if (!rd.messages.empty()) parts.push_back(absl::StrCat("msgs=", rd.messages.size()));
  if (!rd.messages_after_persist.empty()) {
    parts.push_back(absl::StrCat("msgs_after_persist=", rd.messages_after_persist.size()));
  }
  if (rd.MustSync()) parts.push_back("sync");
  return absl::StrJoin(parts, " ");
}

std::string DescribeLog(const Replica& r) {
  if (r.down) return absl::StrCat("n", r.id, " is down");
  const RaftNode& n = *r.raft;
  std::string s = absl::StrCat("n", r.id, " log first=", n.first_index(), " last=", n.last_index(),
                               " commit=", n.commit_index(), " applied=", n.applied_index());
  auto entries = n.entries(n.first_index(), n.last_index() + 1);
  if (entries.ok()) {
    for (const Entry& e : *entries) absl::StrAppend(&s, "\n  ", DescribeEntry(e, /*with_data=*/true));
  }
  return s;
}

std::string DescribeStatus(const RaftNode& n) {
  std::string s =
      absl::StrCat("n", n.id(), " ", RoleName(n.role()), n.is_learner() ? " (learner)" : "", " term=", n.term(),
                   " vote=", n.vote(), " leader=", n.leader(), " last=", n.last_index(),
                   " commit=", n.commit_index(), " ", DescribeConfState(n.conf()));
  for (const ReplicaProgress& p : n.progress()) {
    absl::StrAppend(&s, "\n  n", p.id, ": match=", p.match, " next=", p.next, " ", ProgressStateName(p.state),
                    p.learner ? " learner" : "",
                    p.inflight_msgs ? absl::StrCat(" inflight=", p.inflight_msgs) : "");
  }
  return s;
}

}  // namespace brook::raft::sim
