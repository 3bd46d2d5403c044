#include "server/machines/group_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace brook::server {
namespace {

GroupApplied Refused(GroupRefusal why, absl::Status status) {
  GroupApplied out;
  out.refusal = why;
  out.status = std::move(status);
  return out;
}

std::vector<std::string> SortedUnique(const google::protobuf::RepeatedPtrField<std::string>& topics) {
  std::vector<std::string> out(topics.begin(), topics.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

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

absl::StatusOr<PartitionSet> ReadSet(const google::protobuf::RepeatedPtrField<internal::TopicPartitions>& in) {
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

}  // namespace

const GroupMember* ConsumerGroup::Owner(const TopicPartition& tp) const {
  for (const auto& [id, m] : members) {
    if (m.owned.contains(tp)) return &m;
  }
  return nullptr;
}

const ConsumerGroup* GroupCoordinator::Find(const std::string& group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

GroupApplied GroupCoordinator::Apply(const internal::GroupCommand& cmd) {
  if (cmd.group().empty()) return Refused(GroupRefusal::kInvalid, absl::InvalidArgumentError("no group named"));
  auto it = groups_.find(cmd.group());
  const bool creates = (cmd.has_heartbeat() && cmd.heartbeat().member_epoch() == 0) ||
                       (cmd.has_commit() && cmd.commit().member_id().empty()) || cmd.has_reset_offsets();
  if (it == groups_.end()) {
    if (!creates) {
      return Refused(cmd.has_heartbeat() || cmd.has_commit() ? GroupRefusal::kUnknownMember
                                                             : GroupRefusal::kUnknownGroup,
                     absl::NotFoundError(absl::StrCat("group '", cmd.group(), "' does not exist")));
    }
    if (groups_.size() >= kMaxGroups) {
      return Refused(GroupRefusal::kTooManyGroups,
                     absl::ResourceExhaustedError(absl::StrCat("this coordinator holds ", kMaxGroups,
                                                               " groups, its limit; delete unused groups")));
    }
  }
  ConsumerGroup scratch;
  ConsumerGroup& g = it != groups_.end() ? it->second : scratch;
  if (it == groups_.end()) {
    g.id = cmd.group();
    g.created_ms = cmd.now_ms();
  }
  GroupApplied out;
  switch (cmd.command_case()) {
    case internal::GroupCommand::kHeartbeat:
      out = cmd.heartbeat().member_epoch() == 0 ? Join(g, cmd.heartbeat(), cmd.now_ms())
                                                : Heartbeat(g, cmd.heartbeat(), cmd.now_ms());
      break;
    case internal::GroupCommand::kRemoveMember:
      out = Remove(g, cmd.remove_member());
      break;
    case internal::GroupCommand::kCommit:
      out = Commit(g, cmd.commit(), cmd.now_ms());
      break;
    case internal::GroupCommand::kDeleteGroup:
    case internal::GroupCommand::kResetOffsets:
      if (!g.members.empty()) {
        return Refused(GroupRefusal::kGroupNotEmpty,
                       absl::FailedPreconditionError(absl::StrCat(
                           "group '", g.id, "' has ", g.members.size(),
                           " members; stop its consumers (or wait for their sessions to expire) first")));
      }
      if (cmd.has_delete_group()) {
        groups_.erase(cmd.group());
        out.group_deleted = true;
        return out;
      }
      for (const auto& o : cmd.reset_offsets().offsets()) {
        g.offsets[{o.topic(), o.partition()}] = GroupOffset{o.offset(), o.metadata(), cmd.now_ms()};
      }
      break;
    default:
      return Refused(GroupRefusal::kInvalid, absl::InvalidArgumentError("empty group command"));
  }
  if (out.status.ok() && it == groups_.end()) groups_.emplace(g.id, std::move(scratch));
  return out;
}

GroupApplied GroupCoordinator::Join(ConsumerGroup& g, const internal::GroupHeartbeat& hb, int64_t now_ms) {
  if (hb.member_id().empty() || g.members.contains(hb.member_id())) {
    return Refused(GroupRefusal::kInvalid, absl::InvalidArgumentError("a join needs a fresh member id"));
  }
  GroupMember* previous = nullptr;
  if (!hb.instance_id().empty()) {
    for (auto& [id, m] : g.members) {
      if (m.instance_id == hb.instance_id()) previous = &m;
    }
  }
  if (previous == nullptr && g.members.size() >= kMaxMembers) {
    return Refused(GroupRefusal::kGroupFull,
                   absl::ResourceExhaustedError(absl::StrCat("group '", g.id, "' has ", kMaxMembers,
                                                             " members, the limit per group")));
  }
  if (previous == nullptr && (!hb.has_topics() || hb.topics().empty())) {
    return Refused(GroupRefusal::kInvalid, absl::InvalidArgumentError("a join names at least one topic to read"));
  }
  const std::string assignor = hb.assignor().empty() ? std::string(kUniformAssignor) : hb.assignor();
  if (assignor != kUniformAssignor && assignor != kRangeAssignor) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError(absl::StrCat("unknown assignor '", assignor,
                                                           "'; use \"uniform\" (sticky) or \"range\"")));
  }
  if (!hb.assignor().empty() && !g.members.empty() && g.assignor != assignor) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError(absl::StrCat("group '", g.id, "' uses the ", g.assignor,
                                                           " assignor while it has members; join with that one")));
  }
  if (g.members.empty()) g.assignor = assignor;
  GroupMember m;
  if (previous != nullptr) {
    // Static membership: the instance is back under a new member id and takes over what its predecessor owned,
    // epoch included, without a rebalance. The predecessor's id is gone, so it is fenced.
    m = std::move(*previous);
    g.members.erase(m.id);
  } else {
    m.joined_ms = now_ms;
  }
  bool changed = previous == nullptr;
  m.id = hb.member_id();
  m.instance_id = hb.instance_id();
  m.away = false;
  m.session_timeout_ms = hb.session_timeout_ms();
  m.rebalance_timeout_ms = hb.rebalance_timeout_ms();
  if (hb.has_topics()) {
    auto topics = SortedUnique(hb.topics());
    changed |= topics != m.topics;
    m.topics = std::move(topics);
  }
  GroupMember& placed = g.members[m.id] = std::move(m);
  GroupApplied out;
  if (!hb.partition_counts().empty()) {
    std::map<std::string, uint32_t> counts(hb.partition_counts().begin(), hb.partition_counts().end());
    changed |= counts != g.partition_counts;
    g.partition_counts = std::move(counts);
  }
  if (changed) ++g.epoch;
  Reconcile(g, placed, out);
  out.group_changed = changed;
  return out;
}

GroupApplied GroupCoordinator::Heartbeat(ConsumerGroup& g, const internal::GroupHeartbeat& hb, int64_t now_ms) {
  (void)now_ms;
  auto it = g.members.find(hb.member_id());
  if (it == g.members.end()) {
    return Refused(GroupRefusal::kUnknownMember,
                   absl::NotFoundError(absl::StrCat("member '", hb.member_id(), "' is not in group '", g.id,
                                                    "' (it left or its session expired); join again")));
  }
  GroupMember& m = it->second;
  const int64_t e = hb.member_epoch();
  if (e > 0 && e != m.epoch && e != m.previous_epoch) {
    return Refused(GroupRefusal::kFencedEpoch,
                   absl::FailedPreconditionError(absl::StrCat("member '", m.id, "' sent epoch ", e,
                                                              " but is at epoch ", m.epoch, "; join again")));
  }
  if (e < -2 || (e == -2 && m.instance_id.empty())) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError(absl::StrCat("member epoch ", e,
                                                           " is not valid (-2 is for static members only)")));
  }
  GroupApplied out;
  out.member_id = m.id;
  if (e == -1) {
    DropMember(g, m.id);
    out.group_changed = true;
    return out;
  }
  if (e == -2) {
    m.away = true;
    out.member_epoch = m.epoch;
    return out;
  }
  if (hb.has_topics() && hb.topics().empty()) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError("a member reads at least one topic; leave the group instead"));
  }
  m.away = false;
  if (hb.has_topics()) {
    auto topics = SortedUnique(hb.topics());
    out.group_changed |= topics != m.topics;
    m.topics = std::move(topics);
  }
  if (!hb.partition_counts().empty()) {
    std::map<std::string, uint32_t> counts(hb.partition_counts().begin(), hb.partition_counts().end());
    out.group_changed |= counts != g.partition_counts;
    g.partition_counts = std::move(counts);
  }
  if (out.group_changed) ++g.epoch;
  if (hb.has_owned()) {
    auto held = ReadSet(hb.owned());
    PartitionSet still = held.ok() ? *held : PartitionSet{};
    for (auto r = m.revoking.begin(); r != m.revoking.end();) {
      if (!still.contains(*r)) {
        m.owned.erase(*r);
        r = m.revoking.erase(r);
      } else {
        ++r;
      }
    }
  }
  Reconcile(g, m, out);
  return out;
}

GroupApplied GroupCoordinator::Remove(ConsumerGroup& g, const internal::GroupRemoveMember& rm) {
  auto it = g.members.find(rm.member_id());
  if (it == g.members.end() || it->second.epoch != rm.member_epoch()) {
    return Refused(GroupRefusal::kUnknownMember,
                   absl::NotFoundError(absl::StrCat("member '", rm.member_id(), "' at epoch ", rm.member_epoch(),
                                                    " is not in group '", g.id, "'")));
  }
  DropMember(g, rm.member_id());
  GroupApplied out;
  out.member_id = rm.member_id();
  out.group_changed = true;
  return out;
}

GroupApplied GroupCoordinator::Commit(ConsumerGroup& g, const internal::GroupCommit& c, int64_t now_ms) {
  if (c.member_id().empty()) {
    if (!g.members.empty()) {
      return Refused(GroupRefusal::kGroupNotEmpty,
                     absl::FailedPreconditionError(absl::StrCat(
                         "group '", g.id, "' has ", g.members.size(),
                         " members; a commit from outside the group protocol is accepted only while it has none")));
    }
  } else {
    auto it = g.members.find(c.member_id());
    if (it == g.members.end()) {
      return Refused(GroupRefusal::kUnknownMember,
                     absl::NotFoundError(absl::StrCat("member '", c.member_id(), "' is not in group '", g.id,
                                                      "' (it left or its session expired); nothing was committed")));
    }
    const GroupMember& m = it->second;
    for (const auto& o : c.offsets()) {
      const TopicPartition tp{o.topic(), o.partition()};
      auto owned = m.owned.find(tp);
      if (owned == m.owned.end()) {
        return Refused(GroupRefusal::kNotOwner,
                       absl::FailedPreconditionError(absl::StrCat("member '", m.id, "' does not own ", Name(tp),
                                                                  " (it moved to another member); nothing was "
                                                                  "committed")));
      }
      if (c.member_epoch() < owned->second || c.member_epoch() > m.epoch) {
        return Refused(GroupRefusal::kStaleEpoch,
                       absl::FailedPreconditionError(absl::StrCat(
                           "member '", m.id, "' committed ", Name(tp), " at epoch ", c.member_epoch(),
                           ", but owns it since epoch ", owned->second, " and is at epoch ", m.epoch,
                           "; nothing was committed")));
      }
    }
  }
  for (const auto& o : c.offsets()) {
    g.offsets[{o.topic(), o.partition()}] = GroupOffset{o.offset(), o.metadata(), now_ms};
  }
  GroupApplied out;
  out.member_id = c.member_id();
  return out;
}

void GroupCoordinator::UpdateTargets(ConsumerGroup& g) {
  if (g.target_epoch == g.epoch) return;
  std::vector<AssignorMember> members;
  std::set<std::string> read;
  for (const auto& [id, m] : g.members) {
    members.push_back({m.instance_id.empty() ? m.id : m.instance_id, m.id, m.topics, m.target});
    read.insert(m.topics.begin(), m.topics.end());
  }
  std::map<std::string, uint32_t> counts;
  for (const auto& t : read) {
    auto c = g.partition_counts.find(t);
    if (c != g.partition_counts.end()) counts[t] = c->second;
  }
  Assignment a = g.assignor == kRangeAssignor ? AssignRange(members, counts) : AssignUniform(members, counts);
  for (auto& [id, m] : g.members) m.target = std::move(a[id]);
  g.target_epoch = g.epoch;
  ++g.rebalances;
}

void GroupCoordinator::Reconcile(ConsumerGroup& g, GroupMember& m, GroupApplied& out) {
  UpdateTargets(g);
  for (const auto& [tp, since] : m.owned) {
    if (!m.target.contains(tp)) m.revoking.insert(tp);
  }
  std::erase_if(m.revoking, [&](const TopicPartition& tp) { return m.target.contains(tp); });
  if (m.revoking.empty()) {
    if (m.epoch != g.target_epoch) {
      m.previous_epoch = m.epoch;
      m.epoch = g.target_epoch;
    }
    for (const auto& tp : m.target) {
      if (!m.owned.contains(tp) && g.Owner(tp) == nullptr) m.owned[tp] = m.epoch;
    }
  }
  out.member_id = m.id;
  out.member_epoch = m.epoch;
  out.assignment.clear();
  for (const auto& [tp, since] : m.owned) {
    if (!m.revoking.contains(tp)) out.assignment.insert(tp);
  }
  out.revoking = m.revoking;
}

void GroupCoordinator::DropMember(ConsumerGroup& g, const std::string& member_id) {
  g.members.erase(member_id);
  ++g.epoch;
}

bool GroupCoordinator::WouldChange(const internal::GroupCommand& cmd) const {
  GroupCoordinator scratch;
  const ConsumerGroup* g = Find(cmd.group());
  if (g != nullptr) scratch.groups_.emplace(g->id, *g);
  const std::string before = g == nullptr ? std::string() : Deterministic(ToProto(*g));
  if (!scratch.Apply(cmd).status.ok()) return false;
  const ConsumerGroup* after = scratch.Find(cmd.group());
  return after == nullptr ? g != nullptr : Deterministic(ToProto(*after)) != before;
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
    auto owned = ReadSet(p.owned());
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
    auto revoking = ReadSet(p.revoking());
    auto target = ReadSet(p.target());
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
