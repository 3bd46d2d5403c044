// DecommissionNode on the controller (docs/operations.md "Decommissioning a node"): the plan, its checks, and
// taking a drained node out of the metadata group.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/errors.h"
#include "server/common/log.h"
#include "server/host/move_plan.h"
#include "server/host/moves.h"

namespace brook::server {
namespace {

bool Has(const google::protobuf::RepeatedField<uint64_t>& ids, raft::NodeId n) {
  return std::find(ids.begin(), ids.end(), n) != ids.end();
}

grpc::Status Refuse(const std::string& why) { return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why); }

}  // namespace

grpc::Status ReplicaMoves::PlanOff(const internal::TopicRecord& t, const internal::PartitionAssignment& p,
                                   raft::NodeId node, raft::NodeId replacement, std::map<raft::NodeId, int>& load,
                                   v1::MoveReplicasResponse* out) const {
  const std::string name = absl::StrCat(t.name(), "/", p.partition());
  if (p.target_replicas_size() > 0) {
    return Refuse(absl::StrCat("a move of ", name, " runs; wait for it or cancel it (brook topic cancel-move)"));
  }
  raft::NodeId best = 0;
  if (replacement != 0) {
    if (!load.contains(replacement) || replacement == node) {
      return Refuse(absl::StrCat("replacement node ", replacement, " is not another active member"));
    }
    if (Has(p.replicas(), replacement)) {
      return Refuse(absl::StrCat("replacement node ", replacement, " already holds ", name,
                                 "; pick a node that "
                                 "holds none of node ",
                                 node, "'s partitions, or decommission without one"));
    }
    if (!Reachable(replacement)) {
      return Refuse(absl::StrCat("replacement node ", replacement, " is not reachable from the controller"));
    }
    best = replacement;
  }
  for (const auto& [n, count] : load) {
    if (replacement != 0 || n == node || Has(p.replicas(), n) || !Reachable(n)) continue;
    if (best == 0 || count < load[best]) best = n;
  }
  if (best == 0) {
    return Refuse(absl::StrCat(name, " (replicas ", absl::StrJoin(p.replicas(), ","),
                               ") has no active reachable node to move to; add or start one first"));
  }
  std::vector<raft::NodeId> to(p.replicas().begin(), p.replicas().end());
  std::replace(to.begin(), to.end(), node, best);
  if (auto s = CheckReachable(p, {best}); !s.ok()) return Refuse(absl::StrCat(name, ": ", s.error_message()));
  ++load[best];
  out->set_topic(t.name());
  out->set_partition(p.partition());
  *out->mutable_from_replicas() = p.replicas();
  for (raft::NodeId n : to) out->add_to_replicas(n);
  for (auto& step : PlanMove(std::vector<raft::NodeId>(p.replicas().begin(), p.replicas().end()), to)) {
    *out->add_plan() = std::move(step);
  }
  return grpc::Status::OK;
}

void ReplicaMoves::CancelDecommission(const v1::DecommissionNodeRequest& req,
                                      std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  const raft::NodeId node = req.node_id();
  const internal::MetadataState& state = meta.machine().state();
  auto rec = state.nodes().find(node);
  if (rec == state.nodes().end()) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("node ", node, " is not a member")), {});
  }
  if (rec->second.state() != v1::NODE_DRAINING) {
    return done(Refuse(absl::StrCat("node ", node, " is not being decommissioned (it is ",
                                    v1::NodeState_Name(rec->second.state()), ")")),
                {});
  }
  const auto& conf = meta.raft().conf();
  if (std::count(conf.voters.begin(), conf.voters.end(), node) == 0 &&
      std::count(conf.learners.begin(), conf.learners.end(), node) == 0) {
    return done(Refuse(absl::StrCat("node ", node,
                                    " has left the metadata group already: its removal is under way and cannot be "
                                    "cancelled")),
                {});
  }
  v1::DecommissionNodeResponse resp;
  for (const auto& [name, t] : state.topics()) {
    for (const auto& p : t.partitions()) {
      if (p.target_replicas_size() == 0 || p.move_cancelled() || !Has(p.replicas(), node) ||
          Has(p.target_replicas(), node)) {
        continue;
      }
      v1::MoveReplicasResponse* m = resp.add_moves();
      m->set_topic(name);
      m->set_partition(p.partition());
      *m->mutable_from_replicas() = p.target_replicas();
      *m->mutable_to_replicas() = p.replicas();
    }
  }
  if (req.dry_run()) return done(grpc::Status::OK, std::move(resp));
  internal::MetadataCommand cmd;
  cmd.mutable_cancel_decommission()->set_node_id(node);
  cancelling_.insert(node);  // RemoveDrained leaves it alone meanwhile
  ctx_->ProposeMetadata(
      cmd, [this, node, done, resp = std::move(resp)](const grpc::Status& s, const MetadataApplied* m) mutable {
        cancelling_.erase(node);
        if (!s.ok()) return done(s, {});
        if (!m->status.ok()) return done(ToGrpc(m->status), {});
        LogInfo("n", ctx_->self(), " controller: decommission of n", node, " cancelled (", resp.moves_size(),
                " moves cancelled)");
        resp.set_started(true);
        done(grpc::Status::OK, std::move(resp));
      });
}

void ReplicaMoves::Decommission(const v1::DecommissionNodeRequest& req,
                                std::function<void(grpc::Status, v1::DecommissionNodeResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (auto s = ctx_->CheckLeaderReady(meta); !s.ok()) return done(s, {});
  if (req.cancel()) return CancelDecommission(req, std::move(done));
  const raft::NodeId node = req.node_id();
  const internal::MetadataState& state = meta.machine().state();
  auto rec = state.nodes().find(node);
  if (rec == state.nodes().end()) {
    return done(grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("node ", node, " is not a member")), {});
  }
  if (rec->second.state() != v1::NODE_ACTIVE && rec->second.state() != v1::NODE_JOINING) {
    return done(Refuse(absl::StrCat("node ", node, " is ", v1::NodeState_Name(rec->second.state()),
                                    " already; only an active or joining node can be decommissioned")),
                {});
  }
  std::vector<raft::NodeId> remain = ctx_->ActiveMembers();
  std::erase(remain, node);
  if (remain.size() < 3) {
    return done(Refuse(absl::StrCat("decommissioning node ", node, " would leave ", remain.size(),
                                    " active nodes; a cluster keeps at least 3 (its metadata group's majority "
                                    "must survive a failure)")),
                {});
  }
  std::map<raft::NodeId, int> load;  // replicas per remaining node, planned moves included
  for (raft::NodeId n : remain) load[n] = 0;
  for (const auto& [name, t] : state.topics()) {
    for (const auto& p : t.partitions()) {
      for (raft::NodeId n : p.replicas()) {
        if (load.contains(n)) ++load[n];
      }
    }
  }
  v1::DecommissionNodeResponse resp;
  internal::MetadataCommand cmd;
  cmd.mutable_decommission()->set_node_id(node);
  for (const auto& [name, t] : state.topics()) {
    for (const auto& p : t.partitions()) {
      if (!Has(p.replicas(), node) && !Has(p.target_replicas(), node)) continue;
      v1::MoveReplicasResponse* move = resp.add_moves();
      if (auto s = PlanOff(t, p, node, req.replacement_node_id(), load, move); !s.ok()) return done(s, {});
      auto* m = cmd.mutable_decommission()->add_moves();
      m->set_topic(name);
      m->set_topic_id(t.topic_id());
      m->set_partition(p.partition());
      *m->mutable_target() = move->to_replicas();
      m->set_time_ms(ctx_->NowMs());
    }
  }
  if (req.dry_run()) return done(grpc::Status::OK, std::move(resp));
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  ctx_->ProposeMetadata(cmd, [this, node, done, resp = std::move(resp)](const grpc::Status& s,
                                                                        const MetadataApplied* m) mutable {
    if (!s.ok()) return done(s, {});
    if (!m->status.ok()) return done(ToGrpc(m->status), {});
    LogInfo("n", ctx_->self(), " controller: decommissioning n", node, ": ", resp.moves_size(), " moves started");
    resp.set_started(true);
    done(grpc::Status::OK, std::move(resp));
  });
}

void ReplicaMoves::RemoveDrained() {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (!meta.serving()) return;
  const internal::MetadataState& state = meta.machine().state();
  for (const auto& [id, rec] : state.nodes()) {
    if (rec.state() != v1::NODE_DRAINING || removing_.contains(id) || cancelling_.contains(id)) continue;
    bool holds = false;
    for (const auto& [name, t] : state.topics()) {
      for (const auto& p : t.partitions()) holds |= Has(p.replicas(), id) || Has(p.target_replicas(), id);
    }
    if (holds) continue;
    const auto& conf = meta.raft().conf();
    const bool member = std::count(conf.voters.begin(), conf.voters.end(), id) > 0 ||
                        std::count(conf.learners.begin(), conf.learners.end(), id) > 0;
    if (member && id == ctx_->self()) {
      // The controller itself leaves: hand the metadata group to an active caught-up voter first.
      for (const auto& p : meta.raft().progress()) {
        if (p.id != id && !p.learner && ctx_->Heard(p) && p.match >= meta.raft().commit_index()) {
          if (meta.raft().TransferLeadership(p.id).ok()) {
            LogInfo("n", id, " controller: drained; handing the metadata group to n", p.id, " before leaving");
          }
          break;
        }
      }
      return;
    }
    if (member) {
      if (meta.raft().ProposeConfChange({raft::ConfChangeType::kRemoveNode, id}).ok()) {
        LogInfo("n", ctx_->self(), " controller: n", id, " is drained; removing it from the metadata group");
      }
      return;  // one membership change at a time
    }
    internal::MetadataCommand cmd;
    cmd.mutable_set_node_state()->set_node_id(id);
    cmd.mutable_set_node_state()->set_state(v1::NODE_REMOVED);
    removing_.insert(id);
    const raft::NodeId node = id;
    ctx_->ProposeMetadata(cmd, [this, node](const grpc::Status& s, const MetadataApplied* m) {
      removing_.erase(node);
      if (s.ok() && m->status.ok()) LogInfo("n", ctx_->self(), " controller: n", node, " is removed");
    });
  }
}

}  // namespace brook::server
