#include "server/host/admission.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/errors.h"
#include "server/common/log.h"

namespace brook::server {
namespace {

bool IsIn(const std::vector<raft::NodeId>& ids, raft::NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

void Admission::Join(const internal::JoinRequest& req,
                     std::function<void(grpc::Status, internal::JoinResponse)> done) {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (meta.raft().role() != raft::Role::kLeader) {
    internal::JoinResponse redirect;
    const auto peers = ctx_->network->peer_addresses();
    if (auto it = peers.find(meta.raft().leader()); it != peers.end()) {
      redirect.set_controller_peer_address(it->second);
    }
    return done(grpc::Status::OK, std::move(redirect));
  }
  if (req.peer_address().empty()) {
    return done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "a joining node must give its node-to-node address (brookd --advertise_peer_addr)"),
                {});
  }
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  internal::MetadataCommand cmd;
  auto* admit = cmd.mutable_admit_node();
  internal::NodeRecord* node = admit->mutable_node();
  node->set_incarnation(req.incarnation());
  node->set_peer_address(req.peer_address());
  node->set_client_address(req.client_address());
  node->set_metrics_address(req.metrics_address());
  node->set_updated_ms(ctx_->NowMs());
  raft::NodeId floor = 0;
  for (const auto* ids : {&meta.raft().conf().voters, &meta.raft().conf().learners}) {
    for (raft::NodeId n : *ids) floor = std::max(floor, n);
  }
  for (raft::NodeId n : ctx_->options->initial_members) floor = std::max(floor, n);
  admit->set_min_node_id(floor + 1);
  ctx_->ProposeMetadata(cmd, [this, done, req](const grpc::Status& s, const MetadataApplied* applied) {
    if (!s.ok()) return done(s, {});
    if (!applied->status.ok()) return done(ToGrpc(applied->status), {});
    internal::JoinResponse resp;
    resp.set_node_id(applied->node_id);
    auto& members = *resp.mutable_members();
    for (const auto& [id, addr] : ctx_->network->peer_addresses()) members[id] = addr;
    for (const auto& [id, rec] : ctx_->groups->metadata().machine().state().nodes()) {
      if (rec.state() == v1::NODE_REMOVED) {
        members.erase(id);
      } else if (!rec.peer_address().empty()) {
        members[id] = rec.peer_address();
      }
    }
    members[applied->node_id] = req.peer_address();
    LogInfo("n", ctx_->self(), " controller: admitted node ", applied->node_id, " (", req.peer_address(),
            ", incarnation ", req.incarnation(), ") as JOINING");
    done(grpc::Status::OK, std::move(resp));
  });
}

bool Admission::Joining() const {
  const auto& nodes = ctx_->groups->metadata().machine().state().nodes();
  auto it = nodes.find(ctx_->self());
  return it != nodes.end() && it->second.state() == v1::NODE_JOINING;
}

void Admission::Run(Clock::TimePoint now) {
  if (now < next_run_) return;
  next_run_ = now + kInterval;
  SyncPeers();
  Advance();
}

void Admission::SyncPeers() {
  const MetadataGroup& meta = ctx_->groups->metadata();
  if (meta.applied() == synced_at_) return;
  synced_at_ = meta.applied();
  for (const auto& [id, rec] : meta.machine().state().nodes()) {
    if (id == ctx_->self()) continue;
    if (rec.state() == v1::NODE_REMOVED) {
      ctx_->network->RemovePeer(id);
    } else if (!rec.peer_address().empty()) {
      ctx_->network->AddPeer(id, rec.peer_address());
    }
  }
}

// One step of the controller's admissions (see the header).
void Admission::Advance() {
  MetadataGroup& meta = ctx_->groups->metadata();
  if (meta.raft().role() != raft::Role::kLeader || !meta.serving()) return;
  const auto& conf = meta.raft().conf();
  const auto& nodes = meta.machine().state().nodes();
  for (const auto& [id, rec] : nodes) {
    if (rec.state() != v1::NODE_JOINING || IsIn(conf.voters, id) || IsIn(conf.learners, id)) continue;
    if (meta.raft().ProposeConfChange({raft::ConfChangeType::kAddLearner, id}).ok()) {
      LogInfo("n", ctx_->self(), " controller: node ", id, " joins the metadata group as a learner");
    }
    return;  // one membership change at a time
  }
  for (const auto& p : meta.raft().progress()) {
    if (p.id == ctx_->self() || !ctx_->Heard(p) || p.match < meta.raft().commit_index()) continue;
    auto rec = nodes.find(p.id);
    if (rec == nodes.end()) continue;
    if (rec->second.state() == v1::NODE_JOINING && !in_flight_) {
      internal::MetadataCommand cmd;
      cmd.mutable_set_node_state()->set_node_id(p.id);
      cmd.mutable_set_node_state()->set_state(v1::NODE_ACTIVE);
      in_flight_ = true;
      const raft::NodeId node = p.id;
      ctx_->ProposeMetadata(cmd, [this, node](const grpc::Status& s, const MetadataApplied* m) {
        in_flight_ = false;
        if (s.ok() && m->status.ok()) LogInfo("n", ctx_->self(), " controller: node ", node, " is ACTIVE");
      });
      return;
    }
    if (rec->second.state() == v1::NODE_ACTIVE && p.learner && conf.voters.size() < kMaxMetadataVoters) {
      if (meta.raft().ProposeConfChange({raft::ConfChangeType::kPromoteLearner, p.id}).ok()) {
        LogInfo("n", ctx_->self(), " controller: node ", p.id, " becomes a voter of the metadata group");
      }
      return;
    }
  }
}

}  // namespace brook::server
