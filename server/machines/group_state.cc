// GroupCoordinator's state as protos: what replicas persist per group and send in snapshots. Bytes read back may
// be corrupt: every check here makes a bad state DataLoss instead of a coordinator that breaks its invariants.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/machines/group_coordinator.h"

namespace brook::server {
namespace {

std::string Name(const TopicPartition& tp) { return absl::StrCat(tp.topic, "/", tp.partition); }

std::string Deterministic(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

void AddSet(const PartitionSet& set, google::protobuf::RepeatedPtrField<internal::TopicPartitions>* out) {
  for (const auto& tp : set) {
    if (out->empty() || out->rbegin()->topic() != tp.topic) out->Add()->set_topic(tp.topic);
    out->rbegin()->add_partitions(tp.partition);
  }
}

}  // namespace

absl::StatusOr<PartitionSet> ReadPartitionSet(
    const google::protobuf::RepeatedPtrField<internal::TopicPartitions>& in) {
  PartitionSet out;
  for (const auto& t : in) {
    for (uint32_t p : t.partitions()) {
      if (!out.insert({t.topic(), p}).second) {
        return absl::DataLossError(absl::StrCat("partition ", t.topic(), "/", p, " listed twice"));
      }
    }
  }
  return out;
}

internal::ConsumerGroupState GroupCoordinator::ToProto(const ConsumerGroup& g) const {
  internal::ConsumerGroupState s;
  s.set_group(g.id);
  s.set_epoch(g.epoch);
  s.set_target_epoch(g.target_epoch);
  s.set_assignor(g.assignor);
  s.set_created_ms(g.created_ms);
  s.set_rebalances(g.rebalances);
  for (const auto& [id, m] : g.members) {
    auto* p = s.add_members();
    p->set_member_id(m.id);
    p->set_instance_id(m.instance_id);
    p->set_epoch(m.epoch);
    p->set_previous_epoch(m.previous_epoch);
    for (const auto& t : m.topics) p->add_topics(t);
    PartitionSet owned;
    for (const auto& [tp, since] : m.owned) {
      owned.insert(tp);
      p->add_owned_since(since);
    }
    AddSet(owned, p->mutable_owned());
    AddSet(m.revoking, p->mutable_revoking());
    AddSet(m.target, p->mutable_target());
    p->set_session_timeout_ms(m.session_timeout_ms);
    p->set_rebalance_timeout_ms(m.rebalance_timeout_ms);
    p->set_away(m.away);
    p->set_joined_ms(m.joined_ms);
  }
  for (const auto& [t, n] : g.partition_counts) (*s.mutable_partition_counts())[t] = n;
  for (const auto& [tp, o] : g.offsets) {
    auto* p = s.add_offsets();
    p->set_topic(tp.topic);
    p->set_partition(tp.partition);
    p->set_offset(o.offset);
    p->set_metadata(o.metadata);
    p->set_commit_time_ms(o.commit_time_ms);
  }
  return s;
}

absl::StatusOr<ConsumerGroup> GroupCoordinator::FromProto(const internal::ConsumerGroupState& s) {
  ConsumerGroup g;
  g.id = s.group();
  g.epoch = s.epoch();
  g.target_epoch = s.target_epoch();
  g.assignor = s.assignor();
  g.created_ms = s.created_ms();
  g.rebalances = s.rebalances();
  if (g.id.empty() || g.target_epoch > g.epoch) return absl::DataLossError("group state without id or epochs");
  PartitionSet owned_anywhere;
  for (const auto& p : s.members()) {
    GroupMember m;
    m.id = p.member_id();
    m.instance_id = p.instance_id();
    m.epoch = p.epoch();
    m.previous_epoch = p.previous_epoch();
    m.topics.assign(p.topics().begin(), p.topics().end());
    auto owned = ReadPartitionSet(p.owned());
    if (!owned.ok()) return owned.status();
    if (owned->size() != static_cast<size_t>(p.owned_since_size())) {
      return absl::DataLossError(absl::StrCat("member '", m.id, "' of group '", g.id, "': owned epochs mismatch"));
    }
    int i = 0;
    for (const auto& tp : *owned) {
      if (!owned_anywhere.insert(tp).second) {
        return absl::DataLossError(absl::StrCat("group '", g.id, "': ", Name(tp), " owned by two members"));
      }
      m.owned[tp] = p.owned_since(i++);
    }
    auto revoking = ReadPartitionSet(p.revoking());
    auto target = ReadPartitionSet(p.target());
    if (!revoking.ok() || !target.ok()) return absl::DataLossError("bad revoking or target set");
    m.revoking = std::move(*revoking);
    m.target = std::move(*target);
    m.session_timeout_ms = p.session_timeout_ms();
    m.rebalance_timeout_ms = p.rebalance_timeout_ms();
    m.away = p.away();
    m.joined_ms = p.joined_ms();
    if (m.id.empty() || !g.members.emplace(m.id, std::move(m)).second) {
      return absl::DataLossError(absl::StrCat("group '", g.id, "': empty or repeated member id"));
    }
  }
  for (const auto& [t, n] : s.partition_counts()) g.partition_counts[t] = n;
  for (const auto& o : s.offsets()) {
    g.offsets[{o.topic(), o.partition()}] = GroupOffset{o.offset(), o.metadata(), o.commit_time_ms()};
  }
  return g;
}

std::string GroupCoordinator::Serialized(const std::string& group) const {
  const ConsumerGroup* g = Find(group);
  return g == nullptr ? std::string() : Deterministic(ToProto(*g));
}

absl::Status GroupCoordinator::Put(std::string_view serialized) {
  internal::ConsumerGroupState s;
  if (!s.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    return absl::DataLossError("consumer group state does not parse");
  }
  auto g = FromProto(s);
  if (!g.ok()) return g.status();
  groups_[g->id] = std::move(*g);
  return absl::OkStatus();
}

std::string GroupCoordinator::Snapshot() const {
  internal::CoordinatorState s;
  for (const auto& [id, g] : groups_) *s.add_groups() = ToProto(g);
  return Deterministic(s);
}

absl::Status GroupCoordinator::Restore(std::string_view snapshot) {
  internal::CoordinatorState s;
  if (!s.ParseFromArray(snapshot.data(), static_cast<int>(snapshot.size()))) {
    return absl::DataLossError("coordinator snapshot does not parse");
  }
  std::map<std::string, ConsumerGroup> groups;
  for (const auto& gs : s.groups()) {
    auto g = FromProto(gs);
    if (!g.ok()) return g.status();
    if (!groups.emplace(g->id, std::move(*g)).second) return absl::DataLossError("group listed twice");
  }
  groups_ = std::move(groups);
  return absl::OkStatus();
}

bool SameGroups(const GroupCoordinator& a, const GroupCoordinator& b) { return a.Snapshot() == b.Snapshot(); }

}  // namespace brook::server
