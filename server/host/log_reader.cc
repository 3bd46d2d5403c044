#include "server/host/log_reader.h"

#include "absl/strings/str_cat.h"

namespace brook::server {

absl::StatusOr<std::vector<raft::Entry>> GroupLogReader::Entries(raft::Index lo, raft::Index hi,
                                                                 uint64_t max_bytes) const {
  if (lo < store_->FirstIndex(group_)) {
    return absl::FailedPreconditionError(absl::StrCat("g", group_, " index ", lo, " is compacted"));
  }
  return store_->Entries(group_, lo, hi, max_bytes);
}

absl::StatusOr<raft::Term> GroupLogReader::TermAt(raft::Index i) const {
  auto bounds = store_->Bounds(group_);
  if (i + 1 < bounds.first_index) {
    return absl::FailedPreconditionError(absl::StrCat("g", group_, " index ", i, " is compacted"));
  }
  return store_->Term(group_, i);
}

}  // namespace brook::server
