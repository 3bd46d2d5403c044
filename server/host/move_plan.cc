#include "server/host/move_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace brook::server {
namespace {

bool Has(const std::vector<raft::NodeId>& v, raft::NodeId n) {
  return std::find(v.begin(), v.end(), n) != v.end();
}

// A leaving voter to remove (another node before the leader), or the leadership transfer the leader needs first.
MoveAction RemoveLeaving(const raft::ConfState& conf, const std::vector<raft::NodeId>& desired,
                         raft::NodeId leader, const MemberHealth& health) {
  bool leader_leaves = false;
  for (raft::NodeId v : conf.voters) {
    if (Has(desired, v)) continue;
    if (v != leader) return MoveAction::Step(v1::MoveStep::REMOVE, v);
    leader_leaves = true;
  }
  if (!leader_leaves) return MoveAction::Done();
  for (raft::NodeId d : desired) {
    if (Has(conf.voters, d) && health.heard(d) && health.caught_up(d)) {
      return MoveAction::Step(v1::MoveStep::TRANSFER_LEADER, d);
    }
  }
  return MoveAction::Wait();
}

}  // namespace

MoveAction MoveAction::Step(v1::MoveStep::Kind k, raft::NodeId node) {
  MoveAction a;
  a.kind = Kind::kStep;
  a.step.set_kind(k);
  a.step.set_node_id(node);
  return a;
}

MoveAction NextMoveStep(const raft::ConfState& conf, const std::vector<raft::NodeId>& desired, raft::NodeId leader,
                        const MemberHealth& health) {
  for (raft::NodeId v : conf.voters) {
    if (v != leader && !Has(desired, v) && !health.heard(v)) return MoveAction::Step(v1::MoveStep::REMOVE, v);
  }
  for (raft::NodeId l : conf.learners) {
    if (!Has(desired, l)) return MoveAction::Step(v1::MoveStep::REMOVE, l);
  }
  for (raft::NodeId d : desired) {
    if (!Has(conf.voters, d) && !Has(conf.learners, d)) return MoveAction::Step(v1::MoveStep::ADD_LEARNER, d);
  }
  if (conf.voters.size() > desired.size()) {
    MoveAction a = RemoveLeaving(conf, desired, leader, health);
    if (a.kind != MoveAction::Kind::kDone) return a;
  }
  bool learner_waits = false;
  for (raft::NodeId l : conf.learners) {
    if (!health.caught_up(l)) {
      learner_waits = true;
      continue;
    }
    return MoveAction::Step(v1::MoveStep::PROMOTE, l);
  }
  if (learner_waits) return MoveAction::Wait();
  return RemoveLeaving(conf, desired, leader, health);
}

std::vector<v1::MoveStep> PlanMove(const std::vector<raft::NodeId>& from, const std::vector<raft::NodeId>& to) {
  std::vector<v1::MoveStep> plan;
  if (from.empty()) return plan;
  raft::ConfState conf;
  conf.voters = from;
  raft::NodeId leader = from[0];
  const MemberHealth all_well{[](raft::NodeId) { return true; }, [](raft::NodeId) { return true; }};
  // Each step adds, promotes or removes one member, or moves the leader once: 4 x members bounds it.
  for (size_t i = 0; i < 4 * (from.size() + to.size()) + 4; ++i) {
    MoveAction a = NextMoveStep(conf, to, leader, all_well);
    if (a.kind != MoveAction::Kind::kStep) break;
    const raft::NodeId n = a.step.node_id();
    switch (a.step.kind()) {
      case v1::MoveStep::ADD_LEARNER:
        conf.learners.push_back(n);
        break;
      case v1::MoveStep::PROMOTE:
        conf.learners.erase(std::find(conf.learners.begin(), conf.learners.end(), n));
        conf.voters.push_back(n);
        break;
      case v1::MoveStep::REMOVE:
        std::erase(conf.voters, n);
        std::erase(conf.learners, n);
        break;
      case v1::MoveStep::TRANSFER_LEADER:
        leader = n;
        break;
      default:
        break;
    }
    plan.push_back(a.step);
  }
  return plan;
}

std::string DescribeStep(const v1::MoveStep& step) {
  switch (step.kind()) {
    case v1::MoveStep::ADD_LEARNER:
      return absl::StrCat("add n", step.node_id(), " as a learner");
    case v1::MoveStep::PROMOTE:
      return absl::StrCat("promote n", step.node_id(), " to voter");
    case v1::MoveStep::REMOVE:
      return absl::StrCat("remove n", step.node_id());
    case v1::MoveStep::TRANSFER_LEADER:
      return absl::StrCat("transfer leadership to n", step.node_id());
    default:
      return "unknown step";
  }
}

}  // namespace brook::server
