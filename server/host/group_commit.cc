#include "server/host/group_commit.h"

#include <cstdlib>
#include <utility>

#include "server/codec/raft_codec.h"
#include "server/common/log.h"

namespace brook::server {

bool GroupCommit::Run() {
  std::vector<Work> work;
  std::vector<storage::GroupWrite> writes;
  const bool sync = Collect(work, writes);
  if (work.empty() && writes.empty()) return false;
  Flush();  // the leaders' appends go out now, in parallel with our own disk write
  if (!writes.empty()) Persist(writes, sync);
  // The entries were moved into the write, not copied; Advance needs them back (the last one's index and term).
  for (auto& w : work) {
    if (w.write >= 0) w.rd.entries = std::move(writes[static_cast<size_t>(w.write)].entries);
  }
  for (auto& w : work) Queue(w.rd.messages_after_persist, w.group->id());
  Flush();
  ApplyAll(work);
  for (auto& w : work) {
    w.group->raft().Advance(w.rd);
    w.group->AfterAdvance();
  }
  // Messages produced by Advance (the leader counting its own persisted entries can commit and notify) go out in
  // the next turn: ask for one soon.
  for (auto& w : work) {
    if (w.group->raft().HasReady()) return true;
  }
  return false;
}

bool GroupCommit::Collect(std::vector<Work>& work, std::vector<storage::GroupWrite>& writes) {
  const bool may_sync = ctx_->options->unsafe_break != UnsafeBreak::kSkipSync;
  bool sync = false;
  ctx_->groups->ForEachAwake([&](Group& g) {
    if (auto init = g.TakeInitWrite()) {
      writes.push_back(std::move(*init));
      sync = may_sync;
    }
    if (!g.raft().HasReady()) return;
    Work w{&g, g.raft().GetReady(), -1};
    Queue(w.rd.messages, g.id());
    if (w.rd.hard_state || !w.rd.entries.empty() || w.rd.snapshot) {
      storage::GroupWrite gw;
      gw.group = g.id();
      gw.hard_state = w.rd.hard_state;
      gw.entries = std::move(w.rd.entries);  // given back after Persist: one copy of the entry data fewer
      gw.snapshot = w.rd.snapshot;
      w.write = static_cast<int>(writes.size());
      writes.push_back(std::move(gw));
    }
    sync = (sync || w.rd.MustSync()) && may_sync;
    work.push_back(std::move(w));
  });
  return sync;
}

void GroupCommit::Persist(const std::vector<storage::GroupWrite>& writes, bool sync) {
  auto start = ctx_->clock->Now();
  if (auto s = ctx_->store->Write(writes, sync); !s.ok()) {
    // A node that cannot persist must not acknowledge anything: stop hard (fail-stop), the others carry on.
    LogError("n", ctx_->self(), " storage write failed, stopping: ", s.message());
    std::_Exit(3);
  }
  if (ctx_->metrics != nullptr) ctx_->metrics->ObserveWrite(writes.size(), sync, ctx_->clock->Now() - start);
}

void GroupCommit::ApplyAll(std::vector<Work>& work) {
  std::vector<storage::GroupWrite> apply_writes;
  for (auto& w : work) {
    storage::GroupWrite aw;
    aw.group = w.group->id();
    w.group->Apply(w.rd, aw);
    if (aw.apply_state || !aw.state_puts.empty() || !aw.state_deletes.empty()) {
      apply_writes.push_back(std::move(aw));
    }
  }
  if (apply_writes.empty()) return;
  if (auto s = ctx_->store->Write(apply_writes, false); !s.ok()) {
    LogError("n", ctx_->self(), " storage write of applied state failed, stopping: ", s.message());
    std::_Exit(3);
  }
}

void GroupCommit::Queue(std::vector<raft::Message>& msgs, raft::GroupId group) {
  for (auto& m : msgs) {
    auto* gm = outbox_[m.to].add_messages();
    gm->set_group_id(group);
    ToProto(std::move(m), gm->mutable_message());  // the Ready's messages are sent once, from here
  }
}

void GroupCommit::Flush() {
  for (auto& [to, batch] : outbox_) {
    if (batch.messages_size() > 0) ctx_->network->Send(to, std::move(batch));
  }
  outbox_.clear();
}

}  // namespace brook::server
