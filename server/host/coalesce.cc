#include "server/host/coalesce.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/codec/entry_codec.h"
#include "server/common/limits.h"
#include "storage/crc32c.h"

namespace brook::server {
namespace {

void PutCrc(std::string& data, uint32_t crc) {
  for (int i = 0; i < 4; ++i) data[9 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

}  // namespace

bool PendingBatch::Fits(uint32_t count, size_t body_bytes) const {
  if (parts.empty()) return true;
  const size_t body = data.size() - kEntryHeaderBytes;
  return records + count <= Limits::kMaxBatchRecords && body + body_bytes <= Limits::kMaxBatchBytes;
}

void PendingBatch::Add(std::string entry_data, uint32_t count, ProduceDone done) {
  Part part;
  part.start = records;
  part.count = count;
  part.crc = EntryBodyCrc(entry_data);
  part.done = std::move(done);
  if (parts.empty()) {
    data = std::move(entry_data);
    part.begin = kEntryHeaderBytes;
  } else {
    part.begin = data.size();
    data.append(entry_data, kEntryHeaderBytes);
  }
  part.end = data.size();
  records += count;
  parts.push_back(std::move(part));
}

absl::Status PendingBatch::Seal() {
  if (parts.size() < 2) return absl::OkStatus();  // one request: its data as the gRPC thread encoded it
  const std::string_view all(data);
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    if (storage::Crc32c(all.substr(p.begin, p.end - p.begin)) != p.crc) {
      return absl::DataLossError(absl::StrCat("merged produce ", i, " of ", parts.size(),
                                              " no longer matches its checksum after the merge copy"));
    }
  }
  PutCrc(data, storage::Crc32c(all.substr(kEntryHeaderBytes)));
  return absl::OkStatus();
}

ProduceDone PendingBatch::FanOut() {
  auto shared = std::make_shared<std::vector<Part>>(std::move(parts));
  parts.clear();
  return [shared](grpc::Status s, v1::ProduceResponse merged) {
    for (Part& p : *shared) {
      if (!s.ok()) {
        p.done(s, {});
        continue;
      }
      v1::ProduceResponse own = merged;
      own.set_base_offset(merged.base_offset() + p.start);
      own.set_record_count(p.count);
      p.done(grpc::Status::OK, std::move(own));
    }
  };
}

void PendingBatch::Fail(const grpc::Status& status) {
  for (Part& p : parts) p.done(status, {});
  parts.clear();
}

std::optional<PendingBatch> ProduceCoalescer::Add(raft::GroupId group, std::string entry_data, uint32_t count,
                                                  ProduceDone done) {
  PendingBatch& batch = pending_[group];
  std::optional<PendingBatch> full;
  if (!batch.Fits(count, entry_data.size() - kEntryHeaderBytes)) {
    full = std::move(batch);
    batch = PendingBatch();
  }
  batch.Add(std::move(entry_data), count, std::move(done));
  return full;
}

PendingBatch ProduceCoalescer::Take(raft::GroupId group) {
  auto it = pending_.find(group);
  if (it == pending_.end()) return {};
  PendingBatch batch = std::move(it->second);
  pending_.erase(it);
  return batch;
}

absl::flat_hash_map<raft::GroupId, PendingBatch> ProduceCoalescer::TakeAll() {
  absl::flat_hash_map<raft::GroupId, PendingBatch> all;
  all.swap(pending_);
  return all;
}

}  // namespace brook::server
