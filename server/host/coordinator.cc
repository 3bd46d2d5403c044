#include "server/host/coordinator.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "brook/v1/errors.pb.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"
#include "server/common/limits.h"
#include "server/common/log.h"
#include "server/machines/metadata_machine.h"

namespace brook::server {
namespace {

v1::GroupError::Reason ReasonOf(GroupRefusal r) {
  switch (r) {
    case GroupRefusal::kUnknownMember:
      return v1::GroupError::UNKNOWN_MEMBER;
    case GroupRefusal::kFencedEpoch:
      return v1::GroupError::FENCED_MEMBER_EPOCH;
    case GroupRefusal::kStaleEpoch:
      return v1::GroupError::STALE_MEMBER_EPOCH;
    case GroupRefusal::kNotOwner:
      return v1::GroupError::NOT_OWNER;
    case GroupRefusal::kGroupNotEmpty:
      return v1::GroupError::GROUP_NOT_EMPTY;
    case GroupRefusal::kUnknownGroup:
      return v1::GroupError::UNKNOWN_GROUP;
    case GroupRefusal::kGroupFull:
      return v1::GroupError::GROUP_FULL;
    case GroupRefusal::kTooManyGroups:
      return v1::GroupError::TOO_MANY_GROUPS;
    default:
      return v1::GroupError::REASON_UNSPECIFIED;
  }
}

std::string NewMemberId() {
  static std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

}  // namespace

void AddTopicPartitions(const PartitionSet& set, google::protobuf::RepeatedPtrField<v1::TopicPartitions>* out) {
  for (const auto& tp : set) {
    if (out->empty() || out->rbegin()->topic() != tp.topic) out->Add()->set_topic(tp.topic);
    out->rbegin()->add_partitions(tp.partition);
  }
}

grpc::Status GroupRefusalStatus(const std::string& group, const GroupApplied& r) {
  v1::GroupError e;
  e.set_reason(ReasonOf(r.refusal));
  e.set_group(group);
  e.set_member_id(r.member_id);
  e.set_member_epoch(r.member_epoch);
  v1::ErrorStatus details;
  const auto code = static_cast<grpc::StatusCode>(r.status.code());
  details.set_code(code);
  details.set_message(std::string(r.status.message()));
  details.add_details()->PackFrom(e);
  return grpc::Status(code, std::string(r.status.message()), details.SerializeAsString());
}

uint32_t GroupCoordinatorHandler::CoordinatorPartition(std::string_view group, uint32_t partitions) {
  uint32_t h = 2166136261u;
  for (unsigned char c : group) {
    h ^= c;
    h *= 16777619u;
  }
  return partitions == 0 ? 0 : h % partitions;
}

void GroupCoordinatorHandler::CreateGroupsTopic() {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (creating_ || !ctx_->CheckLeaderReady(meta).ok()) return;
  const std::vector<raft::NodeId> nodes = ctx_->ActiveMembers();
  v1::CreateTopicRequest req;
  req.set_name(std::string(kGroupsTopic));
  req.set_partitions(Limits::kGroupCoordinatorPartitions);
  // The coordinator's state is in its machine (and snapshots), not in records: the log can be trimmed.
  req.mutable_config()->set_retention_bytes(64 << 20);
  const uint32_t rf = std::min<uint32_t>(3, static_cast<uint32_t>(nodes.size()));
  internal::MetadataCommand cmd;
  *cmd.mutable_create_topic()->mutable_topic() =
      MetadataMachine::Place(req, rf, nodes, meta.machine().state(), ctx_->NowMs());
  creating_ = true;
  ctx_->ProposeMetadata(cmd, [this](const grpc::Status& s, const MetadataApplied* m) {
    creating_ = false;
    if (s.ok() && m->status.ok()) LogInfo("n", ctx_->self(), " controller: created ", kGroupsTopic);
  });
}

grpc::Status GroupCoordinatorHandler::Resolve(const std::string& group, PartitionGroup** out) {
  MetadataGroup& meta = ctx_->groups->metadata();
  const auto& topics = meta.machine().state().topics();
  auto t = topics.find(std::string(kGroupsTopic));
  if (t == topics.end()) {
    if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return s;  // NotLeader: the controller creates it
    CreateGroupsTopic();
    return RetryLater(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("the group coordinators' topic ", kGroupsTopic, " is being created; retry"),
                      200);
  }
  return ResolvePartition(CoordinatorPartition(group, static_cast<uint32_t>(t->second.partitions_size())), out);
}

grpc::Status GroupCoordinatorHandler::ResolvePartition(uint32_t p, PartitionGroup** out) {
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  auto t = topics.find(std::string(kGroupsTopic));
  if (t == topics.end() || p >= static_cast<uint32_t>(t->second.partitions_size())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat(kGroupsTopic, " has no partition ", p));
  }
  PartitionGroup* g = ctx_->groups->FindPartition(std::string(kGroupsTopic), p);
  if (g == nullptr) {
    const auto [leader, term] = hinted_leader_(t->second.partitions(static_cast<int>(p)).group_id());
    return NotLeaderStatus(kGroupsTopic, p, leader, ctx_->ClientAddressOf(leader), term);
  }
  if (auto s = ctx_->CheckLeaderReady(*g); !s.ok()) return s;
  *out = g;
  return grpc::Status::OK;
}

internal::GroupCommand GroupCoordinatorHandler::BuildCommand(const v1::HeartbeatRequest& req,
                                                             const PartitionGroup& g) {
  internal::GroupCommand cmd;
  cmd.set_group(req.group());
  cmd.set_now_ms(ctx_->NowMs());
  auto* hb = cmd.mutable_heartbeat();
  hb->set_member_id(req.member_epoch() == 0 && req.member_id().empty() ? NewMemberId() : req.member_id());
  hb->set_instance_id(req.instance_id());
  hb->set_member_epoch(req.member_epoch());
  hb->set_has_topics(!req.topics().empty());
  *hb->mutable_topics() = req.topics();
  hb->set_has_owned(req.member_epoch() != 0);
  for (const auto& tp : req.owned()) {
    auto* o = hb->add_owned();
    o->set_topic(tp.topic());
    *o->mutable_partitions() = tp.partitions();
  }
  hb->set_assignor(req.assignor());
  hb->set_session_timeout_ms(req.session_timeout_ms() == 0 ? kDefaultSessionTimeoutMs : req.session_timeout_ms());
  hb->set_rebalance_timeout_ms(req.rebalance_timeout_ms() == 0 ? kDefaultRebalanceTimeoutMs
                                                               : req.rebalance_timeout_ms());
  // The partition count of every topic the group reads after this heartbeat, as the metadata has it now.
  std::set<std::string> read(req.topics().begin(), req.topics().end());
  if (const ConsumerGroup* group = g.machine().coordinator().Find(req.group()); group != nullptr) {
    for (const auto& [id, m] : group->members) {
      if (id == hb->member_id() && hb->has_topics()) continue;
      read.insert(m.topics.begin(), m.topics.end());
    }
  }
  const auto& topics = ctx_->groups->metadata().machine().state().topics();
  for (const auto& name : read) {
    auto t = topics.find(name);
    (*hb->mutable_partition_counts())[name] = t == topics.end() ? 0 : t->second.partitions_size();
  }
  return cmd;
}

void GroupCoordinatorHandler::TrackRebalance(PartitionGroup& g, const std::string& group, bool changed) {
  const auto now = ctx_->clock->Now();
  const auto key = std::make_pair(g.id(), group);
  if (changed) rebalancing_.try_emplace(key, now);
  auto it = rebalancing_.find(key);
  if (it == rebalancing_.end()) return;
  const ConsumerGroup* state = g.machine().coordinator().Find(group);
  if (state == nullptr || state->members.empty()) {
    rebalancing_.erase(it);
  } else if (state->Stable()) {
    if (ctx_->metrics != nullptr) ctx_->metrics->ObserveGroupRebalance(now - it->second);
    rebalancing_.erase(it);
  }
}

GroupCoordinatorHandler::PartitionClocks& GroupCoordinatorHandler::ClocksOf(PartitionGroup& g) {
  PartitionClocks& c = clocks_[g.id()];
  if (c.term != g.raft().term()) {
    c = PartitionClocks{};  // a new leadership: every member's clock starts now (ExpireMembers fills them)
    c.term = g.raft().term();
  }
  return c;
}

void GroupCoordinatorHandler::Answer(PartitionGroup& g, const internal::GroupCommand& cmd, const GroupApplied& r,
                                     const std::function<void(grpc::Status, v1::HeartbeatResponse)>& done) {
  if (!r.status.ok()) return done(GroupRefusalStatus(cmd.group(), r), {});
  TrackRebalance(g, cmd.group(), r.group_changed);
  const auto now = ctx_->clock->Now();
  auto& members = ClocksOf(g).members;
  const auto key = std::make_pair(cmd.group(), r.member_id);
  if (cmd.heartbeat().member_epoch() == -1) {
    members.erase(key);
  } else {
    Clock_& c = members[key];
    c.heard = now;
    c.removing = false;
    if (r.revoking.empty()) {
      c.revoking_since = Clock::TimePoint::max();
    } else if (c.revoking_since == Clock::TimePoint::max() || c.revoking_since == Clock::TimePoint{}) {
      c.revoking_since = now;
    }
  }
  v1::HeartbeatResponse resp;
  resp.set_member_id(r.member_id);
  resp.set_member_epoch(r.member_epoch);
  AddTopicPartitions(r.assignment, resp.mutable_assignment());
  AddTopicPartitions(r.revoking, resp.mutable_revoking());
  // The member's own session (set at its join), not this request's: a heartbeat may leave the timeouts out.
  uint32_t session_ms = cmd.heartbeat().session_timeout_ms();
  if (const ConsumerGroup* group = g.machine().coordinator().Find(cmd.group()); group != nullptr) {
    if (auto m = group->members.find(r.member_id); m != group->members.end())
      session_ms = m->second.session_timeout_ms;
  }
  resp.set_heartbeat_interval_ms(std::max<uint32_t>(100, session_ms / 3));
  done(grpc::Status::OK, std::move(resp));
}

void GroupCoordinatorHandler::Heartbeat(const v1::HeartbeatRequest& req,
                                        std::function<void(grpc::Status, v1::HeartbeatResponse)> done) {
  PartitionGroup* g = nullptr;
  if (auto s = Resolve(req.group(), &g); !s.ok()) return done(s, {});
  const internal::GroupCommand cmd = BuildCommand(req, *g);
  bool changes = false;
  GroupApplied preview = g->machine().coordinator().Preview(cmd, &changes);
  if (!changes) return Answer(*g, cmd, preview, done);
  Propose(*g, cmd, [this, cmd, done](const grpc::Status& s, PartitionGroup* group, const GroupApplied* r) {
    if (!s.ok()) return done(s, {});
    Answer(*group, cmd, *r, done);
  });
}

void GroupCoordinatorHandler::Propose(PartitionGroup& g, const internal::GroupCommand& cmd, Applied done) {
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, nullptr, nullptr);
  std::string data = EncodeGroupCommand(cmd);
  const int64_t t = std::max(ctx_->NowMs(), g.last_append_time());
  StampAppendTime(data, t);
  auto proposed = g.raft().Propose(std::move(data), 0);
  if (!proposed.ok()) {
    return done(absl::IsFailedPrecondition(proposed.status())
                    ? ctx_->NotLeaderFor(g)
                    : RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(proposed.status().message()), 50),
                nullptr, nullptr);
  }
  g.set_last_append_time(t);
  const uint64_t id = g.id();
  g.proposals().Add(
      proposed->index, proposed->term,
      [this, id, done](const grpc::Status& s, const Proposals<PartitionApplied>::Committed* c) {
        if (!s.ok()) return done(s, nullptr, nullptr);
        PartitionGroup* group = ctx_->groups->FindPartition(id);
        if (group == nullptr) {
          return done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the coordinator partition moved away; retry"),
                      nullptr, nullptr);
        }
        done(grpc::Status::OK, group, &c->result.group);
      });
}

void GroupCoordinatorHandler::ExpireMembers(Clock::TimePoint now) {
  if (now < next_expiry_check_) return;
  next_expiry_check_ = now + std::chrono::milliseconds(100);
  // Only __consumer_groups partitions hold members: look them up rather than walk every hosted partition.
  for (uint32_t p = 0; p < Limits::kGroupCoordinatorPartitions; ++p) {
    PartitionGroup* g = ctx_->groups->FindPartition(kGroupsTopic, p);
    if (g == nullptr || g->raft().role() != raft::Role::kLeader || !g->serving()) continue;
    PartitionClocks& clocks = ClocksOf(*g);
    for (const auto& [name, group] : g->machine().coordinator().groups()) {
      for (const auto& [member_id, m] : group.members) {
        auto [it, fresh] = clocks.members.try_emplace({name, member_id});
        Clock_& c = it->second;
        if (fresh) {
          c.heard = now;
          c.revoking_since = m.revoking.empty() ? Clock::TimePoint::max() : now;
        }
        if (c.removing) continue;
        const bool session_over = now - c.heard > std::chrono::milliseconds(m.session_timeout_ms);
        const bool revocation_over = c.revoking_since != Clock::TimePoint::max() &&
                                     now - c.revoking_since > std::chrono::milliseconds(m.rebalance_timeout_ms);
        if (!session_over && !revocation_over) continue;
        internal::GroupCommand cmd;
        cmd.set_group(name);
        cmd.set_now_ms(ctx_->NowMs());
        cmd.mutable_remove_member()->set_member_id(member_id);
        cmd.mutable_remove_member()->set_member_epoch(m.epoch);
        const std::string why = session_over ? "its session expired" : "it did not give up revoked partitions";
        cmd.mutable_remove_member()->set_reason(why);
        std::string data = EncodeGroupCommand(cmd);
        const int64_t t = std::max(ctx_->NowMs(), g->last_append_time());
        StampAppendTime(data, t);
        auto proposed = g->raft().Propose(std::move(data), 0);
        if (!proposed.ok()) continue;
        g->set_last_append_time(t);
        c.removing = true;
        LogInfo("n", ctx_->self(), " group '", name, "': removing member ", member_id, " (", why, ")");
        const uint64_t gid = g->id();
        const auto key = std::make_pair(name, member_id);
        g->proposals().Add(
            proposed->index, proposed->term,
            [this, gid, key](const grpc::Status& s, const Proposals<PartitionApplied>::Committed* r) {
              auto c = clocks_.find(gid);
              if (c != clocks_.end()) c->second.members.erase(key);
              PartitionGroup* group = ctx_->groups->FindPartition(gid);
              if (s.ok() && group != nullptr) TrackRebalance(*group, key.first, r->result.group.group_changed);
            });
      }
    }
    // Clocks of members that are gone.
    std::erase_if(clocks.members, [&](const auto& kv) {
      const ConsumerGroup* group = g->machine().coordinator().Find(kv.first.first);
      return group == nullptr || !group->members.contains(kv.first.second);
    });
  }
}

}  // namespace brook::server
