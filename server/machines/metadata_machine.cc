#include "server/machines/metadata_machine.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "server/common/limits.h"
#include "server/common/topic_config.h"

namespace brook::server {

absl::Status MetadataMachine::Load(const StoredState& state, LogPoint) {
  state_.Clear();
  state_.set_next_group_id(1);
  state_.set_next_topic_id(1);
  for (const auto& [key, value] : state) {
    if (key == kStateKey && !state_.ParseFromString(value)) {
      return absl::DataLossError("metadata state does not parse");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MetadataMachine::Applied> MetadataMachine::Apply(const raft::Entry& entry, StateDelta* delta) {
  Applied out;
  if (entry.type != raft::EntryType::kNormal) return out;
  if (entry.index <= state_.state_index()) {
    // The state came from a snapshot taken past this entry (a snapshot holds the state as applied when it was
    // sent, under the log start's index): applying it again would apply it twice (an InitProducer would give a
    // second epoch, an AddPartitions more partitions).
    out.status = absl::AlreadyExistsError(
        absl::StrCat("metadata entry ", entry.index, " is already in the state this replica restored"));
    return out;
  }
  auto applied = ApplyCommand(entry);
  if (!applied.ok()) return applied;
  // Refused commands too: re-applied against a later state, one could succeed.
  state_.set_state_index(entry.index);
  delta->Put(std::string(kStateKey), state_.SerializeAsString());
  return applied;
}

absl::StatusOr<MetadataMachine::Applied> MetadataMachine::ApplyCommand(const raft::Entry& entry) {
  Applied out;
  if (state_.next_group_id() == 0) state_.set_next_group_id(1);
  if (state_.next_topic_id() == 0) state_.set_next_topic_id(1);
  internal::MetadataCommand cmd;
  if (!cmd.ParseFromArray(entry.data.data(), static_cast<int>(entry.data.size()))) {
    return absl::DataLossError(absl::StrCat("metadata entry ", entry.index, " does not parse"));
  }
  switch (cmd.command_case()) {
    case internal::MetadataCommand::kCreateTopic: {
      internal::TopicRecord topic = cmd.create_topic().topic();
      out.topic = topic.name();
      if (state_.topics().contains(topic.name())) {
        out.status = absl::AlreadyExistsError(absl::StrCat("topic '", topic.name(), "' already exists"));
        return out;
      }
      if (auto s = CheckClusterLimits(topic.partitions_size()); !s.ok()) {
        out.status = s;
        return out;
      }
      topic.set_topic_id(state_.next_topic_id());
      state_.set_next_topic_id(state_.next_topic_id() + 1);
      for (auto& p : *topic.mutable_partitions()) {
        p.set_group_id(state_.next_group_id());
        state_.set_next_group_id(state_.next_group_id() + 1);
      }
      (*state_.mutable_topics())[topic.name()] = topic;
      out.created = std::move(topic);
      break;
    }
    case internal::MetadataCommand::kDeleteTopic: {
      const auto& del = cmd.delete_topic();
      out.topic = del.name();
      auto it = state_.topics().find(del.name());
      if (it == state_.topics().end() || (del.topic_id() != 0 && it->second.topic_id() != del.topic_id())) {
        out.status = absl::NotFoundError(absl::StrCat("topic '", del.name(), "' does not exist"));
        return out;
      }
      out.deleted = it->second;
      state_.mutable_topics()->erase(del.name());
      break;
    }
    case internal::MetadataCommand::kInitProducer:
      InitProducer(cmd.init_producer(), out);
      if (!out.status.ok()) return out;
      break;
    case internal::MetadataCommand::kAlterTopic:
      AlterTopic(cmd.alter_topic(), out);
      if (!out.status.ok()) return out;
      break;
    case internal::MetadataCommand::kSetLeaderBalancer:
      state_.set_leader_balancer_paused(cmd.set_leader_balancer().paused());
      break;
    case internal::MetadataCommand::kMoveReplicas:
    case internal::MetadataCommand::kCompleteMove:
    case internal::MetadataCommand::kCancelMove:
    case internal::MetadataCommand::kAddPartitions:
    case internal::MetadataCommand::kDecommission:
    case internal::MetadataCommand::kSetNodeState:
    case internal::MetadataCommand::kCancelDecommission:
    case internal::MetadataCommand::kSetPreferredLeader:
      ApplyPlacement(cmd, out);
      if (!out.status.ok()) return out;
      break;
    case internal::MetadataCommand::kRegisterNode:
      RegisterNode(cmd.register_node().node(), out);
      break;
    case internal::MetadataCommand::kAdmitNode:
      AdmitNode(cmd.admit_node(), out);
      break;
    case internal::MetadataCommand::kChangeAcl:
    case internal::MetadataCommand::kSetQuota:
      ApplyAccess(cmd, out);
      break;
    default:
      return absl::DataLossError(absl::StrCat("metadata entry ", entry.index, " has no known command"));
  }
  return out;
}

void MetadataMachine::AlterTopic(const internal::MetadataCommand::AlterTopic& cmd, MetadataApplied& out) {
  out.topic = cmd.name();
  auto it = state_.mutable_topics()->find(cmd.name());
  if (it == state_.mutable_topics()->end() || (cmd.topic_id() != 0 && it->second.topic_id() != cmd.topic_id())) {
    out.status = absl::NotFoundError(absl::StrCat("topic '", cmd.name(), "' does not exist"));
    return;
  }
  v1::TopicConfig merged;
  if (auto s = AlterTopicConfig(it->second.config(), cmd.set(), cmd.config(), &merged); !s.ok()) {
    out.status = absl::InvalidArgumentError(s.error_message());
    return;
  }
  *it->second.mutable_config() = std::move(merged);
  out.altered = it->second;
}

absl::Status MetadataMachine::CheckClusterLimits(int new_partitions) const {
  if (static_cast<uint32_t>(state_.topics_size()) >= Limits::kMaxTopicsPerCluster) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the cluster holds ", state_.topics_size(),
                     " topics, its limit (max_topics_per_cluster); delete one first"));
  }
  uint64_t partitions = 0;
  for (const auto& [name, t] : state_.topics()) partitions += static_cast<uint64_t>(t.partitions_size());
  if (partitions + static_cast<uint64_t>(new_partitions) > Limits::kMaxPartitionsPerCluster) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the cluster holds ", partitions, " partitions; ", new_partitions, " more would pass its limit of ",
        Limits::kMaxPartitionsPerCluster, " (max_partitions_per_cluster)"));
  }
  return absl::OkStatus();
}

uint64_t MetadataMachine::NextProducerId() {
  if (state_.next_producer_id() == 0) state_.set_next_producer_id(1);
  const uint64_t n = state_.next_producer_id();
  state_.set_next_producer_id(n + 1);
  return kAssignedProducerIdBit | n;
}

void MetadataMachine::InitProducer(const internal::MetadataCommand::InitProducer& cmd, MetadataApplied& out) {
  if (cmd.producer_name().empty()) {
    out.producer_id = NextProducerId();
    return;
  }
  auto& producers = *state_.mutable_producers();
  auto it = producers.find(cmd.producer_name());
  if (it == producers.end()) {
    if (producers.size() >= Limits::kMaxNamedProducers) {
      out.status = absl::ResourceExhaustedError(
          absl::StrCat("the cluster keeps at most ", Limits::kMaxNamedProducers,
                       " producer names (max_named_producers); use an existing name or none"));
      return;
    }
    internal::NamedProducer p;
    p.set_producer_id(NextProducerId());
    it = producers.emplace(cmd.producer_name(), p).first;
  } else if (it->second.epoch() == UINT32_MAX) {
    it->second.set_producer_id(NextProducerId());  // the epoch would wrap: a new id starts at epoch 0 again
    it->second.set_epoch(0);
  } else {
    it->second.set_epoch(it->second.epoch() + 1);
  }
  it->second.set_last_init_ms(cmd.time_ms());
  out.producer_id = it->second.producer_id();
  out.producer_epoch = it->second.epoch();
}

absl::Status MetadataMachine::Restore(std::string_view snapshot, LogPoint, StateDelta* delta) {
  internal::MetadataState s;
  if (!s.ParseFromArray(snapshot.data(), static_cast<int>(snapshot.size()))) {
    return absl::DataLossError("metadata snapshot does not parse");
  }
  state_ = std::move(s);
  delta->Put(std::string(kStateKey), state_.SerializeAsString());
  return absl::OkStatus();
}

internal::TopicRecord MetadataMachine::Place(const v1::CreateTopicRequest& req, uint32_t replication_factor,
                                             const std::vector<uint64_t>& nodes_in,
                                             const internal::MetadataState& state, int64_t now_ms) {
  std::vector<uint64_t> nodes = nodes_in;
  std::sort(nodes.begin(), nodes.end());
  std::map<uint64_t, uint64_t> leaders;  // preferred-leader count per node
  for (uint64_t n : nodes) leaders[n] = 0;
  for (const auto& [name, t] : state.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.replicas_size() > 0 && leaders.contains(p.replicas(0))) ++leaders[p.replicas(0)];
    }
  }
  internal::TopicRecord topic;
  topic.set_name(req.name());
  topic.set_replication_factor(replication_factor);
  *topic.mutable_config() = req.config();
  topic.set_created_ms(now_ms);
  for (uint32_t p = 0; p < req.partitions(); ++p) {
    size_t first = 0;
    for (size_t i = 1; i < nodes.size(); ++i) {
      if (leaders[nodes[i]] < leaders[nodes[first]]) first = i;
    }
    ++leaders[nodes[first]];
    auto* a = topic.add_partitions();
    a->set_partition(p);
    for (uint32_t r = 0; r < replication_factor && r < nodes.size(); ++r) {
      a->add_replicas(nodes[(first + r) % nodes.size()]);
    }
  }
  return topic;
}

v1::Topic TopicToApi(const internal::TopicRecord& t) {
  v1::Topic out;
  out.set_name(t.name());
  out.set_topic_id(t.topic_id());
  out.set_partition_count(static_cast<uint32_t>(t.partitions_size()));
  out.set_replication_factor(t.replication_factor());
  *out.mutable_config() = t.config();
  out.set_created_ms(t.created_ms());
  return out;
}

}  // namespace brook::server
