// The metadata machine's replica moves and partition growth (docs/operations.md "Moving replicas"). Every check
// here runs at apply, on every node alike, against the state as the entry finds it: the controller's own checks
// before proposing can be overtaken by another entry.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/limits.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {
namespace {

bool SameSet(const google::protobuf::RepeatedField<uint64_t>& a,
             const google::protobuf::RepeatedField<uint64_t>& b) {
  std::set<uint64_t> x(a.begin(), a.end());
  std::set<uint64_t> y(b.begin(), b.end());
  return x == y;
}

internal::PartitionAssignment* FindPartition(internal::TopicRecord& t, uint32_t partition, MetadataApplied& out) {
  if (partition >= static_cast<uint32_t>(t.partitions_size())) {
    out.status = absl::NotFoundError(absl::StrCat("topic '", t.name(), "' has ", t.partitions_size(),
                                                  " partitions; partition ", partition, " does not exist"));
    return nullptr;
  }
  return t.mutable_partitions(static_cast<int>(partition));
}

}  // namespace

absl::Status MetadataMachine::CheckMoveTarget(const internal::TopicRecord& topic,
                                              const std::vector<uint64_t>& target,
                                              const std::vector<uint64_t>& members) {
  if (target.size() != topic.replication_factor()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replicas names ", target.size(), " nodes; topic '", topic.name(), "' has replication factor ",
        topic.replication_factor(), ", so name exactly ", topic.replication_factor()));
  }
  std::set<uint64_t> seen;
  for (uint64_t n : target) {
    if (!seen.insert(n).second) {
      return absl::InvalidArgumentError(absl::StrCat("replicas names node ", n, " twice"));
    }
    if (std::find(members.begin(), members.end(), n) == members.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "node ", n, " is not an active member of the cluster (active: ", absl::StrJoin(members, ","), ")"));
    }
  }
  return absl::OkStatus();
}

void MetadataMachine::ApplyPlacement(const internal::MetadataCommand& cmd, MetadataApplied& out) {
  switch (cmd.command_case()) {
    case internal::MetadataCommand::kMoveReplicas:
      return MoveReplicas(cmd.move_replicas(), out);
    case internal::MetadataCommand::kCompleteMove:
      return CompleteMove(cmd.complete_move(), out);
    case internal::MetadataCommand::kCancelMove:
      return CancelMove(cmd.cancel_move(), out);
    case internal::MetadataCommand::kAddPartitions:
      return AddPartitions(cmd.add_partitions(), out);
    case internal::MetadataCommand::kDecommission:
      return Decommission(cmd.decommission(), out);
    case internal::MetadataCommand::kCancelDecommission:
      return CancelDecommission(cmd.cancel_decommission(), out);
    case internal::MetadataCommand::kSetPreferredLeader:
      return SetPreferredLeader(cmd.set_preferred_leader(), out);
    case internal::MetadataCommand::kSetNodeState: {
      auto it = state_.mutable_nodes()->find(cmd.set_node_state().node_id());
      if (it == state_.mutable_nodes()->end()) {
        out.status = absl::NotFoundError(absl::StrCat("node ", cmd.set_node_state().node_id(), " has no record"));
        return;
      }
      if (it->second.state() == v1::NODE_REMOVED) {
        out.status = absl::FailedPreconditionError(absl::StrCat("node ", it->first, " was removed"));
        return;
      }
      it->second.set_state(cmd.set_node_state().state());
      return;
    }
    default:
      return;
  }
}

const internal::PartitionAssignment* MetadataMachine::FindGroup(uint64_t group_id, std::string* topic) const {
  for (const auto& [name, t] : state_.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.group_id() != group_id) continue;
      if (topic != nullptr) *topic = name;
      return &p;
    }
  }
  return nullptr;
}

internal::TopicRecord* MetadataMachine::FindTopic(const std::string& name, uint64_t topic_id,
                                                  MetadataApplied& out) {
  out.topic = name;
  auto it = state_.mutable_topics()->find(name);
  if (it == state_.mutable_topics()->end() || (topic_id != 0 && it->second.topic_id() != topic_id)) {
    out.status = absl::NotFoundError(absl::StrCat("topic '", name, "' does not exist"));
    return nullptr;
  }
  return &it->second;
}

std::vector<uint64_t> MetadataMachine::NodeIds() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, node] : state_.nodes()) {
    if (node.state() == v1::NODE_ACTIVE) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void MetadataMachine::MoveReplicas(const internal::MetadataCommand::MoveReplicas& cmd, MetadataApplied& out) {
  internal::TopicRecord* t = FindTopic(cmd.topic(), cmd.topic_id(), out);
  if (t == nullptr) return;
  internal::PartitionAssignment* p = FindPartition(*t, cmd.partition(), out);
  if (p == nullptr) return;
  if (p->target_replicas_size() > 0) {
    out.status = absl::FailedPreconditionError(
        absl::StrCat("a move of ", cmd.topic(), "/", cmd.partition(), " already runs; cancel it first"));
    return;
  }
  const std::vector<uint64_t> target(cmd.target().begin(), cmd.target().end());
  if (auto s = CheckMoveTarget(*t, target, NodeIds()); !s.ok()) {
    out.status = s;
    return;
  }
  *p->mutable_target_replicas() = cmd.target();
  p->set_move_started_ms(cmd.time_ms());
  p->set_move_cancelled(false);
  out.placed = *t;
}

void MetadataMachine::Decommission(const internal::MetadataCommand::Decommission& cmd, MetadataApplied& out) {
  auto node = state_.nodes().find(cmd.node_id());
  if (node == state_.nodes().end() ||
      (node->second.state() != v1::NODE_ACTIVE && node->second.state() != v1::NODE_JOINING)) {
    out.status = absl::FailedPreconditionError(absl::StrCat("node ", cmd.node_id(), " is not an active member"));
    return;
  }
  const internal::MetadataState before = state_;
  (*state_.mutable_nodes())[cmd.node_id()].set_state(v1::NODE_DRAINING);
  std::set<std::string> topics;
  for (const auto& move : cmd.moves()) {
    MetadataApplied one;
    MoveReplicas(move, one);
    if (!one.status.ok()) {
      state_ = before;
      out.status = one.status;
      return;
    }
    topics.insert(move.topic());
  }
  for (const auto& name : topics) out.placed_all.push_back(state_.topics().at(name));
}

void MetadataMachine::CompleteMove(const internal::MetadataCommand::CompleteMove& cmd, MetadataApplied& out) {
  std::string name;
  const internal::PartitionAssignment* found = FindGroup(cmd.group_id(), &name);
  if (found == nullptr) {
    out.status = absl::NotFoundError(absl::StrCat("group ", cmd.group_id(), " is no partition"));
    return;
  }
  internal::TopicRecord& t = (*state_.mutable_topics())[name];
  auto* p = t.mutable_partitions(static_cast<int>(found->partition()));
  if (p->target_replicas_size() == 0 || !SameSet(p->target_replicas(), cmd.voters())) {
    out.status = absl::FailedPreconditionError(absl::StrCat("group ", cmd.group_id(), "'s voters ",
                                                            absl::StrJoin(cmd.voters(), ","),
                                                            " are not the target of a running move"));
    return;
  }
  out.move_started_ms = p->move_started_ms();
  *p->mutable_replicas() = p->target_replicas();
  p->clear_target_replicas();
  p->set_move_started_ms(0);
  p->set_move_cancelled(false);
  p->set_moved(true);
  out.topic = name;
  out.placed = t;
}

void MetadataMachine::CancelMove(const internal::MetadataCommand::CancelMove& cmd, MetadataApplied& out) {
  internal::TopicRecord* t = FindTopic(cmd.topic(), cmd.topic_id(), out);
  if (t == nullptr) return;
  internal::PartitionAssignment* p = FindPartition(*t, cmd.partition(), out);
  if (p == nullptr) return;
  if (p->target_replicas_size() == 0) {
    out.status =
        absl::FailedPreconditionError(absl::StrCat("no move of ", cmd.topic(), "/", cmd.partition(), " runs"));
    return;
  }
  *p->mutable_target_replicas() = p->replicas();
  p->set_move_cancelled(true);
  out.placed = *t;
}

void MetadataMachine::CancelDecommission(const internal::MetadataCommand::CancelDecommission& cmd,
                                         MetadataApplied& out) {
  auto node = state_.mutable_nodes()->find(cmd.node_id());
  if (node == state_.mutable_nodes()->end() || node->second.state() != v1::NODE_DRAINING) {
    out.status = absl::FailedPreconditionError(
        absl::StrCat("node ", cmd.node_id(), " is not being decommissioned (it is not DRAINING)"));
    return;
  }
  node->second.set_state(v1::NODE_ACTIVE);
  for (auto& [name, t] : *state_.mutable_topics()) {
    bool changed = false;
    for (auto& p : *t.mutable_partitions()) {
      const bool off = p.target_replicas_size() > 0 && !p.move_cancelled() &&
                       std::count(p.replicas().begin(), p.replicas().end(), cmd.node_id()) > 0 &&
                       std::count(p.target_replicas().begin(), p.target_replicas().end(), cmd.node_id()) == 0;
      if (!off) continue;
      *p.mutable_target_replicas() = p.replicas();
      p.set_move_cancelled(true);
      changed = true;
    }
    if (changed) out.placed_all.push_back(t);
  }
}

void MetadataMachine::SetPreferredLeader(const internal::MetadataCommand::SetPreferredLeader& cmd,
                                         MetadataApplied& out) {
  for (auto& [name, t] : *state_.mutable_topics()) {
    for (auto& p : *t.mutable_partitions()) {
      if (p.group_id() != cmd.group_id()) continue;
      out.topic = name;
      auto* replicas = p.mutable_replicas();
      auto it = std::find(replicas->begin(), replicas->end(), cmd.node_id());
      if (it == replicas->end() || p.target_replicas_size() > 0) {
        out.status = absl::FailedPreconditionError(
            absl::StrCat("node ", cmd.node_id(), " is not a replica of ", name, "/", p.partition(),
                         p.target_replicas_size() > 0 ? ", or a move of it runs" : ""));
        return;
      }
      std::iter_swap(replicas->begin(), it);
      out.placed = t;
      return;
    }
  }
  out.status = absl::NotFoundError(absl::StrCat("no partition has group ", cmd.group_id()));
}

void MetadataMachine::AddPartitions(const internal::MetadataCommand::AddPartitions& cmd, MetadataApplied& out) {
  internal::TopicRecord* t = FindTopic(cmd.topic(), cmd.topic_id(), out);
  if (t == nullptr) return;
  const auto total = static_cast<uint64_t>(t->partitions_size()) + static_cast<uint64_t>(cmd.partitions_size());
  if (cmd.partitions_size() == 0 || total > Limits::kMaxPartitionsPerTopic) {
    out.status = absl::InvalidArgumentError(
        absl::StrCat("topic '", t->name(), "' would have ", total, " partitions; it must grow, to at most ",
                     Limits::kMaxPartitionsPerTopic, " (max_partitions_per_topic)"));
    return;
  }
  if (auto s = CheckClusterLimits(cmd.partitions_size()); !s.ok()) {
    out.status = s;
    return;
  }
  for (int i = 0; i < cmd.partitions_size(); ++i) {
    const auto& in = cmd.partitions(i);
    const std::vector<uint64_t> replicas(in.replicas().begin(), in.replicas().end());
    if (auto s = CheckMoveTarget(*t, replicas, NodeIds()); !s.ok()) {
      out.status = s;
      return;
    }
  }
  for (const auto& in : cmd.partitions()) {
    auto* p = t->add_partitions();
    p->set_partition(static_cast<uint32_t>(t->partitions_size() - 1));
    p->set_group_id(state_.next_group_id());
    state_.set_next_group_id(state_.next_group_id() + 1);
    *p->mutable_replicas() = in.replicas();
  }
  out.placed = *t;
}

}  // namespace brook::server
