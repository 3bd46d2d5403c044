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

// What one Fetch (or one message of a Subscribe) asks for.
struct ReadOptions {
  uint64_t offset = 0;
  uint32_t max_records = 0;  // 0: Limits::kDefaultFetchRecords
  uint32_t max_bytes = 0;    // 0: Limits::kDefaultFetchBytes
  // Serve compressed batches as stored (FetchResponse.compressed_batches) instead of decompressing them.
  bool accept_compressed = false;
};

// Fills `out` with records from `offset`: at most `max_records` and about `max_bytes` (at least one record, or one
// compressed batch, when any is available). Below the log start: a TRIMMED gap. Past the high watermark:
// BeyondHighWatermark. A compressed batch goes to a reader that accepts it whole, as stored: it may start below
// `offset`, and it counts its compressed bytes and all its records against the limits; to other readers its
// records are decompressed (the bytes of a plain record are its key and value, as before compression existed).
// On a compacted topic the records key compaction removed are reported as `compacted` ranges (merged when they
// touch), so that every offset in [offset, next_offset) is a record or in a range; an answer may hold ranges and
// no record. Tombstones are served with StoredRecord.tombstone set.
// Cost: one offset-index seek plus one storage range read; decodes each entry once; decompresses a compressed
// batch only for a reader that does not accept it.
grpc::Status ReadRecords(const storage::Store& store, const PartitionView& view, const ReadOptions& read,
                         raft::NodeId self, v1::FetchResponse* out);

// Whether a read found anything to answer: records, compressed batches, a gap or compacted ranges.
bool HasData(const v1::FetchResponse& response);

grpc::Status ListOffsets(const storage::Store& store, const PartitionView& view, const v1::ListOffsetsRequest& req,
                         v1::ListOffsetsResponse* out);

}  // namespace brook::server
