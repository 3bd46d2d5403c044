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
  if (AnswerKnown(*g, args, done)) return;
  if (args.expected_offset) {
    if (auto s = CheckExpectedOffset(*g, *args.expected_offset); !s.ok()) return done(s, {});
  }
  Propose(*g, args, std::move(entry_data), std::move(done));
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
  uint32_t synced = 0;
  for (const auto& p : raft.progress()) {
    if (!p.learner && p.match >= index) ++synced;
  }
  receipt->set_synced_replicas(synced);
  receipt->set_replicas(static_cast<uint32_t>(raft.conf().voters.size()));
  return resp;
}

bool ProduceHandler::AnswerKnown(PartitionGroup& g, const ProduceArgs& args, const ProduceDone& done) {
  auto decision = g.machine().CheckProduce(args.producer_id, args.sequence, args.record_count);
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

void ProduceHandler::Propose(PartitionGroup& g, const ProduceArgs& args, std::string data, ProduceDone done) {
  const int64_t append_time = std::max(ctx_->NowMs(), g.last_append_time());
  StampAppendTime(data, append_time);
  auto proposed = g.raft().Propose(std::move(data), args.record_count);
  if (!proposed.ok()) {
    const auto& st = proposed.status();
    if (absl::IsFailedPrecondition(st)) return done(ctx_->NotLeaderFor(g), {});
    if (absl::IsResourceExhausted(st)) {
      return done(RetryLater(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             absl::StrCat("partition ", args.topic, "/", args.partition,
                                          " has too many uncommitted bytes in flight; retry after a short wait"),
                             10),
                  {});
    }
    return done(RetryLater(grpc::StatusCode::UNAVAILABLE, std::string(st.message()), 50), {});
  }
  g.set_last_append_time(append_time);
  if (ctx_->options->unsafe_break == UnsafeBreak::kAckBeforeCommit) {
    return done(grpc::Status::OK, Answer(g.raft(), proposed->base_offset, args.record_count, append_time, false,
                                         proposed->term, proposed->index));
  }
  g.machine().AddInFlight(args.producer_id, args.sequence, args.record_count, proposed->index);
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
