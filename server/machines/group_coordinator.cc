#include "server/machines/group_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/limits.h"

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

}  // namespace

const GroupMember* ConsumerGroup::Owner(const TopicPartition& tp) const {
  for (const auto& [id, m] : members) {
    if (m.owned.contains(tp)) return &m;
  }
  return nullptr;
}

bool ConsumerGroup::Stable() const {
  if (members.empty()) return false;
  for (const auto& [id, m] : members) {
    if (!m.revoking.empty() || m.owned.size() != m.target.size()) return false;
    for (const auto& [tp, since] : m.owned) {
      if (!m.target.contains(tp)) return false;
    }
  }
  return true;
}

const ConsumerGroup* GroupCoordinator::Find(const std::string& group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

absl::Status GroupCoordinator::CheckCommand(const internal::GroupCommand& cmd) {
  if (cmd.group().empty() || cmd.group().size() > Limits::kMaxGroupNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a group id is 1 to ", Limits::kMaxGroupNameLength, " bytes, not ", cmd.group().size()));
  }
  auto too_many = [](const char* what, size_t n, size_t limit) {
    return absl::InvalidArgumentError(absl::StrCat(n, " ", what, "; the limit is ", limit));
  };
  if (cmd.has_heartbeat()) {
    const auto& hb = cmd.heartbeat();
    if (hb.member_id().size() > kMaxIdBytes || hb.instance_id().size() > kMaxIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("member and instance ids are at most ", kMaxIdBytes, " bytes"));
    }
    if (static_cast<size_t>(hb.topics_size()) > kMaxTopicsPerGroup) {
      return too_many("topics to read", hb.topics_size(), kMaxTopicsPerGroup);
    }
    for (const auto& t : hb.topics()) {
      if (t.empty() || t.size() > Limits::kMaxTopicNameLength) {
        return absl::InvalidArgumentError(
            absl::StrCat("topic names are 1 to ", Limits::kMaxTopicNameLength, " bytes"));
      }
    }
    if (hb.partition_counts_size() > static_cast<int>(kMaxTopicsPerGroup)) {
      return too_many("topics read by the group", hb.partition_counts_size(), kMaxTopicsPerGroup);
    }
    uint64_t partitions = 0;
    for (const auto& [t, n] : hb.partition_counts()) {
      if (n > Limits::kMaxPartitionsPerTopic)
        return too_many("partitions in one topic", n, Limits::kMaxPartitionsPerTopic);
      partitions += n;
    }
    if (partitions > kMaxPartitionsPerGroup)
      return too_many("partitions read by the group", partitions, kMaxPartitionsPerGroup);
    size_t owned = 0;
    for (const auto& t : hb.owned()) owned += t.partitions_size();
    if (owned > kMaxPartitionsPerGroup) return too_many("owned partitions", owned, kMaxPartitionsPerGroup);
  }
  const auto* offsets = cmd.has_commit() ? &cmd.commit().offsets()
                                         : (cmd.has_reset_offsets() ? &cmd.reset_offsets().offsets() : nullptr);
  if (offsets != nullptr) {
    if (static_cast<size_t>(offsets->size()) > kMaxPartitionsPerGroup) {
      return too_many("offsets", offsets->size(), kMaxPartitionsPerGroup);
    }
    for (const auto& o : *offsets) {
      if (o.metadata().size() > Limits::kMaxOffsetMetadataBytes) {
        return too_many("bytes of offset metadata", o.metadata().size(), Limits::kMaxOffsetMetadataBytes);
      }
    }
  }
  return absl::OkStatus();
}

GroupApplied GroupCoordinator::Apply(const internal::GroupCommand& cmd) {
  if (auto s = CheckCommand(cmd); !s.ok()) return Refused(GroupRefusal::kInvalid, std::move(s));
  auto it = groups_.find(cmd.group());
  const bool creates = (cmd.has_heartbeat() && cmd.heartbeat().member_epoch() == 0) ||
                       (cmd.has_commit() && cmd.commit().member_id().empty()) || cmd.has_reset_offsets();
  if (it == groups_.end()) {
    if (!creates) {
      return Refused(
          cmd.has_heartbeat() || cmd.has_commit() ? GroupRefusal::kUnknownMember : GroupRefusal::kUnknownGroup,
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
                   absl::ResourceExhaustedError(
                       absl::StrCat("group '", g.id, "' has ", kMaxMembers, " members, the limit per group")));
  }
  if (previous == nullptr && (!hb.has_topics() || hb.topics().empty())) {
    return Refused(GroupRefusal::kInvalid, absl::InvalidArgumentError("a join names at least one topic to read"));
  }
  const std::string assignor = hb.assignor().empty() ? std::string(kUniformAssignor) : hb.assignor();
  if (assignor != kUniformAssignor && assignor != kRangeAssignor) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError(
                       absl::StrCat("unknown assignor '", assignor, "'; use \"uniform\" (sticky) or \"range\"")));
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
                   absl::InvalidArgumentError(
                       absl::StrCat("member epoch ", e, " is not valid (-2 is for static members only)")));
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
  absl::StatusOr<PartitionSet> held = ReadPartitionSet(hb.owned());
  if (!held.ok()) {
    return Refused(GroupRefusal::kInvalid,
                   absl::InvalidArgumentError(absl::StrCat("owned partitions: ", held.status().message())));
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
    for (auto r = m.revoking.begin(); r != m.revoking.end();) {
      if (!held->contains(*r)) {
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
      return Refused(
          GroupRefusal::kGroupNotEmpty,
          absl::FailedPreconditionError(absl::StrCat(
              "group '", g.id, "' has ", g.members.size(),
              " members; a commit from outside the group protocol is accepted only while it has none")));
    }
  } else {
    auto it = g.members.find(c.member_id());
    if (it == g.members.end()) {
      return Refused(
          GroupRefusal::kUnknownMember,
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
                       absl::FailedPreconditionError(
                           absl::StrCat("member '", m.id, "' committed ", Name(tp), " at epoch ", c.member_epoch(),
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
  bool changes = false;
  (void)Preview(cmd, &changes);
  return changes;
}

GroupApplied GroupCoordinator::Preview(const internal::GroupCommand& cmd, bool* changes) const {
  GroupCoordinator scratch;
  const ConsumerGroup* g = Find(cmd.group());
  if (g != nullptr) scratch.groups_.emplace(g->id, *g);
  const std::string before = Serialized(cmd.group());
  GroupApplied out = scratch.Apply(cmd);
  *changes = out.status.ok() && scratch.Serialized(cmd.group()) != before;
  // The limit on groups counts this coordinator's groups, not the scratch copy's one.
  if (g == nullptr && *changes && groups_.size() >= kMaxGroups) {
    *changes = false;
    return Refused(GroupRefusal::kTooManyGroups,
                   absl::ResourceExhaustedError(absl::StrCat("this coordinator holds ", kMaxGroups,
                                                             " groups, its limit; delete unused groups")));
  }
  return out;
}

}  // namespace brook::server
