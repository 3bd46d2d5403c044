// The coordinator's answers besides Heartbeat (coordinator.h): a member's fenced commit, and the admin calls that
// read or change a group (describe, list, delete, reset offsets). Each is served by the leader of the group's
// coordinator partition; reads answer from its applied state.
#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/host/coordinator.h"

namespace brook::server {
namespace {

v1::DescribeGroupResponse::State StateOf(const ConsumerGroup& g) {
  if (g.members.empty()) return v1::DescribeGroupResponse::EMPTY;
  return g.Stable() ? v1::DescribeGroupResponse::STABLE : v1::DescribeGroupResponse::RECONCILING;
}

grpc::Status UnknownGroup(const std::string& group) {
  GroupApplied r;
  r.refusal = GroupRefusal::kUnknownGroup;
  r.status = absl::NotFoundError(absl::StrCat("group '", group, "' does not exist"));
  return GroupRefusalStatus(group, r);
}

bool GroupsTopicExists(HostContext* ctx) {
  return ctx->groups->metadata().machine().state().topics().contains(std::string(kGroupsTopic));
}

void FillMember(const GroupMember& m, v1::GroupMember* out) {
  out->set_member_id(m.id);
  out->set_instance_id(m.instance_id);
  out->set_member_epoch(m.epoch);
  for (const auto& t : m.topics) out->add_topics(t);
  PartitionSet reading;
  for (const auto& [tp, since] : m.owned) {
    if (!m.revoking.contains(tp)) reading.insert(tp);
  }
  AddTopicPartitions(reading, out->mutable_assignment());
  AddTopicPartitions(m.revoking, out->mutable_revoking());
  out->set_session_timeout_ms(m.session_timeout_ms);
  out->set_away(m.away);
  out->set_joined_ms(m.joined_ms);
}

}  // namespace

void GroupCoordinatorHandler::ProposeForStatus(const std::string& group, const internal::GroupCommand& cmd,
                                               std::function<void(grpc::Status)> done) {
  PartitionGroup* g = nullptr;
  if (auto s = Resolve(group, &g); !s.ok()) return done(s);
  Propose(*g, cmd, [group, done](const grpc::Status& s, PartitionGroup*, const GroupApplied* r) {
    if (!s.ok()) return done(s);
    done(r->status.ok() ? grpc::Status::OK : GroupRefusalStatus(group, *r));
  });
}

void GroupCoordinatorHandler::Commit(const v1::CommitOffsetsRequest& req, std::function<void(grpc::Status)> done) {
  internal::GroupCommand cmd;
  cmd.set_group(req.group());
  cmd.set_now_ms(ctx_->NowMs());
  auto* c = cmd.mutable_commit();
  c->set_member_id(req.member_id());
  c->set_member_epoch(req.member_epoch());
  for (const auto& o : req.offsets()) {
    auto* out = c->add_offsets();
    out->set_topic(req.topic());
    out->set_partition(o.partition());
    out->set_offset(o.offset());
    out->set_metadata(o.metadata());
    out->set_commit_time_ms(cmd.now_ms());
  }
  ProposeForStatus(req.group(), cmd, std::move(done));
}

void GroupCoordinatorHandler::ResetOffsets(const v1::ResetOffsetsRequest& req,
                                           std::function<void(grpc::Status)> done) {
  internal::GroupCommand cmd;
  cmd.set_group(req.group());
  cmd.set_now_ms(ctx_->NowMs());
  for (const auto& o : req.offsets()) {
    auto* out = cmd.mutable_reset_offsets()->add_offsets();
    out->set_topic(req.topic());
    out->set_partition(o.partition());
    out->set_offset(o.offset());
    out->set_metadata(o.metadata());
    out->set_commit_time_ms(cmd.now_ms());
  }
  ProposeForStatus(req.group(), cmd, std::move(done));
}

void GroupCoordinatorHandler::Delete(const v1::DeleteGroupRequest& req, std::function<void(grpc::Status)> done) {
  if (!GroupsTopicExists(ctx_)) return done(UnknownGroup(req.group()));
  internal::GroupCommand cmd;
  cmd.set_group(req.group());
  cmd.set_now_ms(ctx_->NowMs());
  cmd.mutable_delete_group();
  ProposeForStatus(req.group(), cmd, std::move(done));
}

void GroupCoordinatorHandler::Describe(const v1::DescribeGroupRequest& req,
                                       std::function<void(grpc::Status, v1::DescribeGroupResponse)> done) {
  if (!GroupsTopicExists(ctx_)) return done(UnknownGroup(req.group()), {});
  PartitionGroup* g = nullptr;
  if (auto s = Resolve(req.group(), &g); !s.ok()) return done(s, {});
  const ConsumerGroup* group = g->machine().coordinator().Find(req.group());
  if (group == nullptr) return done(UnknownGroup(req.group()), {});
  v1::DescribeGroupResponse resp;
  resp.set_group(group->id);
  resp.set_state(StateOf(*group));
  resp.set_group_epoch(group->epoch);
  resp.set_assignor(group->assignor.empty() ? "uniform" : group->assignor);
  resp.set_rebalances(group->rebalances);
  resp.set_created_ms(group->created_ms);
  resp.set_coordinator_partition(g->partition());
  resp.set_coordinator_node(ctx_->self());
  if (!req.omit_members()) {
    for (const auto& [id, m] : group->members) FillMember(m, resp.add_members());
  }
  PartitionSet wanted;
  for (const auto& tp : req.offsets_of()) {
    for (uint32_t p : tp.partitions()) wanted.insert({tp.topic(), p});
  }
  for (const auto& [tp, o] : group->offsets) {
    if (!wanted.empty() && !wanted.contains(tp)) continue;
    auto* out = resp.add_offsets();
    out->set_topic(tp.topic);
    out->set_partition(tp.partition);
    out->set_offset(o.offset);
    out->set_metadata(o.metadata);
    out->set_commit_time_ms(o.commit_time_ms);
  }
  done(grpc::Status::OK, std::move(resp));
}

void GroupCoordinatorHandler::List(const v1::ListGroupsRequest& req,
                                   std::function<void(grpc::Status, v1::ListGroupsResponse)> done) {
  if (!GroupsTopicExists(ctx_)) return done(grpc::Status::OK, {});  // no group was ever made
  PartitionGroup* g = nullptr;
  if (auto s = ResolvePartition(req.coordinator_partition(), &g); !s.ok()) return done(s, {});
  v1::ListGroupsResponse resp;
  for (const auto& [name, group] : g->machine().coordinator().groups()) {
    auto* l = resp.add_groups();
    l->set_group(name);
    l->set_state(StateOf(group));
    l->set_members(static_cast<uint32_t>(group.members.size()));
    l->set_group_epoch(group.epoch);
    l->set_committed_offsets(static_cast<uint32_t>(group.offsets.size()));
  }
  done(grpc::Status::OK, std::move(resp));
}

}  // namespace brook::server
