// Coalescing of concurrent plain Produces (docs/decisions.md A21): the plain Produces (records only: no producer
// id, sequence, epoch, compression or expected offset) that reach one partition's leader in the same loop turn
// become one Raft entry, one record batch whose records are theirs in arrival order. Each request still gets its
// own answer with its own contiguous offsets, [entry base + its start, + its count); they share the entry's append
// time and receipt. Nothing is acknowledged before the entry commits on a majority, as for any entry, and a
// request whose entry is not written is answered not-written like one proposed alone.
//
// Why it keeps every guarantee: a plain batch's body is only `records` fields (entry_codec.h), so the bodies of
// several laid end to end are the body of one batch holding all their records; offsets stay dense and each
// request's run is contiguous; idempotent and conditional Produces are never merged, and a partition's pending
// batch is proposed before any of them is looked at (so a conditional append sees the true log end and arrival
// order holds). Each part's own CRC is checked again over the merged copy before the merged CRC is written, so a
// bad copy is refused, not replicated.
//
// Loop thread only. Cost per merged request: one copy of its records (appending its body) and two CRC passes over
// them (hardware CRC32C: several GB/s).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "brook/v1/log.pb.h"
#include "grpcpp/support/status.h"
#include "raft/types.h"

namespace brook::server {

// Answers one Produce, once, on the loop thread.
using ProduceDone = std::function<void(grpc::Status, v1::ProduceResponse)>;

// The requests of one partition waiting for the end of the turn, merged into one entry's data.
struct PendingBatch {
  struct Part {
    uint32_t start = 0;  // first record's position in the merged batch
    uint32_t count = 0;  // records
    size_t begin = 0;    // the part's body in `data`
    size_t end = 0;      //
    uint32_t crc = 0;    // the part's body CRC as the gRPC thread computed it
    ProduceDone done;    //
  };
  std::string data;  // the first request's entry data, each later request's body appended
  uint32_t records = 0;
  std::vector<Part> parts;

  // Whether `count` records of `body_bytes` more fit the limits of one Produce (Limits::kMaxBatchRecords and
  // kMaxBatchBytes): a merged entry is never larger than one request could have made it.
  bool Fits(uint32_t count, size_t body_bytes) const;
  // Appends one request's entry data (EncodeRecordBatch of a plain Produce).
  void Add(std::string entry_data, uint32_t count, ProduceDone done);
  // Checks each part's CRC over the merged bytes and writes the merged body's CRC into the header. DataLoss names
  // the part that no longer matches (nothing may be proposed then).
  absl::Status Seal();
  // One answer for the merged entry that answers each part: its own offsets within the entry's, the rest shared.
  ProduceDone FanOut();
  // Answers every part with `status` (not written).
  void Fail(const grpc::Status& status);
};

class ProduceCoalescer {
 public:
  // Takes the request into the partition's pending batch. If it does not fit there, the pending batch is
  // returned, for the caller to propose now, and the request starts the next one.
  std::optional<PendingBatch> Add(raft::GroupId group, std::string entry_data, uint32_t count, ProduceDone done);
  // Removes and returns a partition's pending batch (empty parts if none).
  PendingBatch Take(raft::GroupId group);
  // Removes and returns every pending batch.
  absl::flat_hash_map<raft::GroupId, PendingBatch> TakeAll();
  bool empty() const { return pending_.empty(); }

 private:
  absl::flat_hash_map<raft::GroupId, PendingBatch> pending_;
};

}  // namespace brook::server
