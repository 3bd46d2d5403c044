#include "server/host/produce.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"
#include "server/common/errors.h"

namespace brook::server {

void ProduceHandler::Produce(ProduceArgs args, std::string entry_data, ProduceDone done) {
  PartitionGroup* g = ctx_->groups->FindPartition(args.topic, args.partition);
  if (g == nullptr) {
    return done(
        grpc::Status(grpc::StatusCode::UNAVAILABLE,
                     absl::StrCat("partition ", args.topic, "/", args.partition, " is not hosted on this node")),
        {});
  }
  if (auto s = ctx_->CheckLeaderReady(*g); !s.ok()) return done(s, {});
  if (auto s = ctx_->disk->CheckWrite(ctx_->self()); !s.ok()) return done(s, {});
  if (args.plain && ctx_->options->coalesce_produces &&
      ctx_->options->unsafe_break != UnsafeBreak::kAckBeforeCommit) {
    auto full = coalescer_.Add(g->id(), std::move(entry_data), args.record_count, std::move(done));
    if (full) ProposePending(*g, std::move(*full));
    return;
  }
  // Everything proposed before this request goes first: a conditional append must see the true log end.
  if (!coalescer_.empty()) ProposePending(*g, coalescer_.Take(g->id()));
  const PartitionMachine::ProduceKey key{args.producer_id, args.producer_epoch, args.sequence, args.record_count,
                                         EntryBodyCrc(entry_data)};
  if (AnswerKnown(*g, args, key, done)) return;
  if (args.expected_offset) {
    if (auto s = CheckExpectedOffset(*g, *args.expected_offset); !s.ok()) return done(s, {});
  }
  Propose(*g, key, std::move(entry_data), std::move(done));
}

void ProduceHandler::Flush() {
  if (coalescer_.empty()) return;
  for (auto& [id, batch] : coalescer_.TakeAll()) {
    PartitionGroup* g = ctx_->groups->FindPartition(id);
    if (g == nullptr) {
      batch.Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("partition group ", id, " stopped being hosted on this node")));
      continue;
    }
    ProposePending(*g, std::move(batch));
  }
}

void ProduceHandler::ProposePending(PartitionGroup& g, PendingBatch batch) {
  if (batch.parts.empty()) return;
  if (auto s = batch.Seal(); !s.ok()) {
    return batch.Fail(grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message())));
  }
  const uint32_t records = batch.records;
  const PartitionMachine::ProduceKey key{0, 0, 0, records, EntryBodyCrc(batch.data)};
  std::string data = std::move(batch.data);
  Propose(g, key, std::move(data), batch.FanOut());
}

v1::ProduceResponse ProduceHandler::Answer(const raft::RaftNode& raft, uint64_t base, uint32_t count, int64_t time,
                                           bool duplicate, raft::Term term, raft::Index index) {
  v1::ProduceResponse resp;
  resp.set_base_offset(base);
  resp.set_record_count(count);
  resp.set_append_time_ms(time);
  resp.set_duplicate(duplicate);
  auto* receipt = resp.mutable_receipt();
  receipt->set_term(term);
  receipt->set_raft_index(index);
  const auto voters = static_cast<uint32_t>(raft.conf().voters.size());
  uint32_t synced = 0;
  if (raft.role() == raft::Role::kLeader) {
    for (const auto& p : raft.progress()) {
      if (!p.learner && p.match >= index) ++synced;
    }
  }
  // Committed means a majority had it synced; that is all a node that stopped leading can vouch for.
  receipt->set_synced_replicas(std::max(synced, voters / 2 + 1));
  receipt->set_replicas(voters);
  return resp;
}

bool ProduceHandler::AnswerKnown(PartitionGroup& g, const ProduceArgs& args,
                                 const PartitionMachine::ProduceKey& key, const ProduceDone& done) {
  auto decision = g.machine().CheckProduce(key);
  if (ctx_->options->unsafe_break == UnsafeBreak::kSkipIdempotence)
    decision.verdict = PartitionMachine::Verdict::kNew;
  switch (decision.verdict) {
    case PartitionMachine::Verdict::kNew:
      return false;
    case PartitionMachine::Verdict::kDuplicate: {
      const auto& b = decision.original;
      done(grpc::Status::OK, Answer(g.raft(), b.base_offset(), b.record_count(), b.append_time_ms(), true,
                                    b.term(), b.raft_index()));
      return true;
    }
    case PartitionMachine::Verdict::kSequenceGap:
      done(SequenceErrorStatus(args.producer_id, decision.expected_sequence, args.sequence), {});
      return true;
    case PartitionMachine::Verdict::kSequenceReused: {
      uint64_t base = decision.original.base_offset();
      if (auto e = g.raft().entries(decision.original.raft_index(), decision.original.raft_index() + 1);
          base == 0 && e.ok() && !e->empty()) {
        base = e->front().base_offset;  // the batch is still in flight: where it was proposed
      }
      done(SequenceReusedStatus(args.producer_id, args.sequence, base), {});
      return true;
    }
    case PartitionMachine::Verdict::kFenced:
      done(ProducerFencedStatus(args.producer_id, args.producer_epoch, decision.current_epoch), {});
      return true;
    case PartitionMachine::Verdict::kUnknownProducer:
      done(UnknownProducerStatus(args.producer_id, args.producer_epoch, args.sequence), {});
      return true;
    case PartitionMachine::Verdict::kInFlight:
      // Answered when the first copy applies, with its offsets.
      g.proposals().Add(decision.inflight_index, g.raft().term(),
                        [done](const grpc::Status& s, const Proposals<PartitionApplied>::Committed* c) {
                          if (!s.ok()) return done(s, {});
                          done(grpc::Status::OK,
                               Answer(c->raft, c->result.base_offset, c->result.record_count,
                                      c->result.append_time_ms, true, c->entry.term, c->entry.index));
                        });
      return true;
  }
  return false;
}

grpc::Status ProduceHandler::CheckExpectedOffset(PartitionGroup& g, uint64_t expected) const {
  raft::Offset end = g.machine().end_offset();
  const raft::Index last = g.raft().last_index();
  if (last > g.applied()) {
    auto tail = g.raft().entries(last, last + 1);
    if (tail.ok() && !tail->empty()) end = tail->back().end_offset();
  }
  if (end != expected) return OffsetMismatchStatus(expected, end);
  return grpc::Status::OK;
}

void ProduceHandler::Propose(PartitionGroup& g, const PartitionMachine::ProduceKey& key, std::string data,
                             ProduceDone done) {
  const int64_t append_time = std::max(ctx_->NowMs(), g.last_append_time());
  StampAppendTime(data, append_time);
  auto proposed = g.raft().Propose(std::move(data), key.count);
  if (!proposed.ok()) {
    const auto& st = proposed.status();
    if (absl::IsFailedPrecondition(st)) return done(ctx_->NotLeaderFor(g), {});
    if (absl::IsResourceExhausted(st)) {
      return done(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             absl::StrCat("partition ", g.topic(), "/", g.partition(),
                                          " has too many uncommitted bytes in flight; retry after a short wait"),
                             10),
                  {});
    }
    return done(RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(st.message()), 50), {});
  }
  g.set_last_append_time(append_time);
  if (ctx_->options->unsafe_break == UnsafeBreak::kAckBeforeCommit) {
    return done(grpc::Status::OK, Answer(g.raft(), proposed->base_offset, key.count, append_time, false,
                                         proposed->term, proposed->index));
  }
  g.machine().AddInFlight(key, proposed->index);
  g.proposals().Add(proposed->index, proposed->term,
                    [ctx = ctx_, id = g.id(), done = std::move(done), proposed_at = ctx_->clock->Now()](
                        const grpc::Status& s, const Proposals<PartitionApplied>::Committed* c) {
                      if (!s.ok()) return done(s, {});
                      if (ctx->metrics != nullptr)
                        ctx->metrics->ObserveCommit(id, ctx->clock->Now() - proposed_at);
                      done(grpc::Status::OK,
                           Answer(c->raft, c->result.base_offset, c->result.record_count, c->result.append_time_ms,
                                  false, c->entry.term, c->entry.index));
                    });
}

}  // namespace brook::server
