// Serving reads of committed records (Fetch, Subscribe, ListOffsets) from storage, on the caller's thread.
//
// Only committed data is visible (docs/decisions.md D4): a read never returns an offset at or past the
// partition's high watermark as this replica has applied it, and never reads a log index past the applied index.
#pragma once

#include <cstdint>

#include "brook/v1/log.pb.h"
#include "grpcpp/support/status.h"
#include "server/host/views.h"
#include "storage/store.h"

namespace brook::server {

// What a read past this replica's high watermark answers: OUT_OF_RANGE on the serving leader (nothing was ever
// committed there); elsewhere UNAVAILABLE + NotLeader (+ RetryInfo), since a replica that is behind cannot know.
grpc::Status BeyondHighWatermark(const PartitionView& view, uint64_t offset, uint64_t hwm, raft::NodeId self);

// Fills `out` with records from `offset`: at most `max_records` and about `max_bytes` (at least one record when
// any is available). Below the log start: a TRIMMED gap. Past the high watermark: BeyondHighWatermark.
// Cost: one offset-index seek plus one storage range read; decodes each entry once.
grpc::Status ReadRecords(const storage::Store& store, const PartitionView& view, uint64_t offset,
                         uint32_t max_records, uint32_t max_bytes, raft::NodeId self, v1::FetchResponse* out);

grpc::Status ListOffsets(const storage::Store& store, const PartitionView& view, const v1::ListOffsetsRequest& req,
                         v1::ListOffsetsResponse* out);

}  // namespace brook::server
