// A partition entry's data as a replica receives it from its leader or reads it from storage
// (server/codec/entry_codec.h): the header readers, VerifyEntryData and every body decoder on the raw input; then
// the same bytes with the body CRC made right (so the fuzzer reaches the body parsers past the checksum), and that
// entry applied by a fresh partition machine as the first entry of its log.
//
// Properties: no crash; a decoder accepts only data that verifies and is of its kind; a decoded record batch
// encodes again to data that decodes to the same records; the batch summary (what applying reads) accepts every
// batch the full decode accepts and says the same about it; applying succeeds exactly on entries whose summary
// (or commit, or group command) decodes and whose record count agrees. The summary does not parse a record's own
// bytes, so it may accept a batch the full decode refuses: such a batch reaches a replica only with a valid body
// CRC, that is from a leader that wrote it wrongly, and every read of it fails with DATA_LOSS.
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"
#include "server/machines/partition_machine.h"
#include "storage/crc32c.h"
#include "tests/fuzz/fuzz_util.h"

namespace brook::server {
namespace {

using fuzz::Fail;

void CheckReEncoding(const internal::RecordBatch& batch) {
  v1::ProduceRequest req;
  *req.mutable_records() = batch.records();
  req.set_producer_id(batch.producer_id());
  req.set_sequence(batch.sequence());
  req.set_producer_epoch(batch.producer_epoch());
  auto again = DecodeRecordBatch(EncodeRecordBatch(req));
  if (!again.ok()) Fail("a decoded batch, encoded again, does not decode");
  if (again->records_size() != batch.records_size()) Fail("a decoded batch, encoded again, lost records");
  for (int i = 0; i < batch.records_size(); ++i) {
    if (again->records(i).SerializeAsString() != batch.records(i).SerializeAsString()) {
      Fail("a decoded batch, encoded again, changed a record");
    }
  }
}

// Decodes `data` every way there is; returns the record count of a record batch the machine can apply (or -1).
int DecodeAll(std::string_view data) {
  const EntryKind kind = EntryKindOf(data);
  (void)EntryAppendTime(data);
  (void)EntryBodyCrc(data);
  const bool verified = VerifyEntryData(data).ok();
  auto batch = DecodeRecordBatch(data);
  auto summary = DecodeBatchSummary(data);
  auto commit = DecodeOffsetCommit(data);
  auto group = DecodeGroupCommand(data);
  if (batch.ok() && (!verified || kind != EntryKind::kRecordBatch)) Fail("a record batch decoded unverified");
  if (summary.ok() && (!verified || kind != EntryKind::kRecordBatch)) Fail("a batch summary decoded unverified");
  if (batch.ok()) {
    if (!summary.ok()) Fail("the summary refused a batch the full decode accepts");
    if (summary->records != static_cast<uint32_t>(batch->records_size()) ||
        BatchRecordCount(*summary) != BatchRecordCount(*batch) ||
        summary->batch.producer_id() != batch->producer_id() || summary->batch.sequence() != batch->sequence() ||
        summary->batch.producer_epoch() != batch->producer_epoch() ||
        summary->batch.compacted() != batch->compacted() ||
        summary->batch.original_body_crc() != batch->original_body_crc() ||
        CheckCompactedBatch(*summary, BatchRecordCount(*batch)).ok() !=
            CheckCompactedBatch(*batch, BatchRecordCount(*batch)).ok()) {
      Fail("the summary disagrees with the full decode");
    }
  }
  if (commit.ok() && (!verified || kind != EntryKind::kOffsetCommit)) Fail("an offset commit decoded unverified");
  if (group.ok() && (!verified || kind != EntryKind::kGroupCommand)) Fail("a group command decoded unverified");
  if (batch.ok()) CheckReEncoding(*batch);
  if (summary.ok()) {
    // A compacted batch must also agree with the span of its entry (the machine refuses one that does not).
    if (!CheckCompactedBatch(*summary, BatchRecordCount(*summary)).ok()) return -1;
    return static_cast<int>(BatchRecordCount(*summary));
  }
  return -1;
}

// The first entry of a partition's log, applied by a fresh machine.
void ApplyFirst(const std::string& data, int records) {
  PartitionMachine machine;
  if (!machine.Load({}, LogPoint{}).ok()) Fail("an empty partition state does not load");
  raft::Entry e;
  e.index = 1;
  e.term = 1;
  e.record_count = records > 0 ? static_cast<uint32_t>(records) : 0;
  e.data = data;
  StateDelta delta;
  auto applied = machine.Apply(e, &delta);
  const bool decodes = records >= 0 || DecodeOffsetCommit(data).ok() || DecodeGroupCommand(data).ok();
  if (decodes && !applied.ok()) {
    Fail(absl::StrCat("a partition machine refused an entry that decodes: ", applied.status().ToString()));
  }
  if (!decodes && applied.ok()) Fail("a partition machine applied an entry that does not decode");
}

void FuzzOne(std::string_view input) {
  DecodeAll(input);
  if (input.size() < kEntryHeaderBytes) return;
  std::string fixed(input);
  const uint32_t crc = storage::Crc32c(std::string_view(fixed).substr(kEntryHeaderBytes));
  for (int i = 0; i < 4; ++i) fixed[9 + i] = static_cast<char>(crc >> (8 * i));
  const int records = DecodeAll(fixed);
  ApplyFirst(fixed, records);
}

}  // namespace
}  // namespace brook::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  brook::fuzz::AllocationBound bound(size);
  brook::server::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
