#include "server/entry_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

void PutLe(std::string& out, size_t pos, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[pos + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetLe(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + i])) << (8 * i);
  return v;
}

std::string Frame(EntryKind kind, const google::protobuf::MessageLite& body) {
  std::string out(kEntryHeaderBytes, '\0');
  out[0] = static_cast<char>(kind);
  body.AppendToString(&out);
  uint32_t crc = storage::Crc32c(std::string_view(out).substr(kEntryHeaderBytes));
  PutLe(out, 9, crc, 4);
  return out;
}

template <typename Message>
absl::StatusOr<Message> Decode(std::string_view data, EntryKind want) {
  if (auto s = VerifyEntryData(data); !s.ok()) return s;
  if (EntryKindOf(data) != want) {
    return absl::DataLossError(absl::StrCat("entry kind is ", static_cast<int>(EntryKindOf(data)), ", expected ",
                                            static_cast<int>(want)));
  }
  Message m;
  if (!m.ParseFromArray(data.data() + kEntryHeaderBytes, static_cast<int>(data.size() - kEntryHeaderBytes))) {
    return absl::DataLossError("entry body does not parse");
  }
  return m;
}

}  // namespace

std::string EncodeRecordBatch(const v1::ProduceRequest& req) {
  internal::RecordBatch batch;
  batch.mutable_records()->CopyFrom(req.records());
  batch.set_producer_id(req.producer_id());
  batch.set_sequence(req.sequence());
  return Frame(EntryKind::kRecordBatch, batch);
}

std::string EncodeOffsetCommit(const internal::OffsetCommit& commit) {
  return Frame(EntryKind::kOffsetCommit, commit);
}

void StampAppendTime(std::string& data, int64_t append_time_ms) {
  PutLe(data, 1, static_cast<uint64_t>(append_time_ms), 8);
}

EntryKind EntryKindOf(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) return static_cast<EntryKind>(0);
  return static_cast<EntryKind>(data[0]);
}

int64_t EntryAppendTime(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) return 0;
  return static_cast<int64_t>(GetLe(data, 1, 8));
}

absl::Status VerifyEntryData(std::string_view data) {
  if (data.size() < kEntryHeaderBytes) {
    return absl::DataLossError(absl::StrCat("entry data is ", data.size(), " bytes, shorter than its header"));
  }
  auto kind = static_cast<uint8_t>(data[0]);
  if (kind != 1 && kind != 2) return absl::DataLossError(absl::StrCat("unknown entry kind ", kind));
  uint32_t want = static_cast<uint32_t>(GetLe(data, 9, 4));
  uint32_t got = storage::Crc32c(data.substr(kEntryHeaderBytes));
  if (want != got) {
    return absl::DataLossError(absl::StrCat("entry body CRC-32C mismatch: stored ", want, ", computed ", got));
  }
  return absl::OkStatus();
}

absl::StatusOr<internal::RecordBatch> DecodeRecordBatch(std::string_view data) {
  return Decode<internal::RecordBatch>(data, EntryKind::kRecordBatch);
}

absl::StatusOr<internal::OffsetCommit> DecodeOffsetCommit(std::string_view data) {
  return Decode<internal::OffsetCommit>(data, EntryKind::kOffsetCommit);
}

}  // namespace brook::server
