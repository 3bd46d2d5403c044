// Produce on the partition leader (docs/decisions.md D7): find the partition's group, check leadership, decide
// idempotence (new, a retry of a written batch, a retry of one in flight, or a sequence gap) before the batch gets
// offsets, check a conditional append's expected offset, stamp the append time and propose. The caller is
// answered once the entry commits and applies, with a durability receipt.
//
// Loop thread only (Host posts to it). Cost: no copy of the records (the entry data was encoded by the gRPC
// thread); one map node per pending proposal.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "brook/v1/log.pb.h"
#include "server/host/coalesce.h"
#include "server/host/context.h"

namespace brook::server {

struct ProduceArgs {
  std::string topic;
  uint32_t partition = 0;
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;
  uint64_t sequence = 0;
  uint32_t record_count = 0;
  std::optional<uint64_t> expected_offset;
  // Records only: no producer id, sequence, epoch, compression or expected offset. A plain Produce may share one
  // Raft entry with the others of its turn (coalesce.h).
  bool plain = false;
};

// Whether `req` is a plain Produce (ProduceArgs::plain).
inline bool IsPlainProduce(const v1::ProduceRequest& req) {
  return req.producer_id() == 0 && req.sequence() == 0 && req.producer_epoch() == 0 &&
         req.compression() == v1::COMPRESSION_NONE && !req.has_expected_offset();
}

class ProduceHandler {
 public:
  explicit ProduceHandler(HostContext* ctx) : ctx_(ctx) {}
  // `entry_data` is EncodeRecordBatch(request). `done` runs once, on the loop thread.
  void Produce(ProduceArgs args, std::string entry_data, ProduceDone done);
  // Proposes every partition's pending plain Produces, one entry per partition. The host calls it once per turn,
  // after the turn's tasks.
  void Flush();

 private:
  // The answer to a Produce whose batch is at (term, index) holding [base, base + count). The receipt counts the
  // replicas the leader knows to hold the entry; a node that no longer leads knows only that a majority does.
  static v1::ProduceResponse Answer(const raft::RaftNode& raft, uint64_t base, uint32_t count, int64_t time,
                                    bool duplicate, raft::Term term, raft::Index index);
  // Answers a retry from what the partition remembers; false if the request is new and must be proposed.
  bool AnswerKnown(PartitionGroup& g, const ProduceArgs& args, const PartitionMachine::ProduceKey& key,
                   const ProduceDone& done);
  // The conditional append's check against the log end (the end of the last entry, applied or not).
  grpc::Status CheckExpectedOffset(PartitionGroup& g, uint64_t expected) const;
  void Propose(PartitionGroup& g, const PartitionMachine::ProduceKey& key, std::string data, ProduceDone done);
  // Proposes a partition's pending plain Produces (if any) as one entry.
  void ProposePending(PartitionGroup& g, PendingBatch batch);

  HostContext* const ctx_;
  ProduceCoalescer coalescer_;
};

}  // namespace brook::server
