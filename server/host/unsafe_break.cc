#include "server/host/unsafe_break.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace brook::server {

absl::StatusOr<UnsafeBreak> ParseUnsafeBreak(absl::string_view name) {
  if (name == "none" || name.empty()) return UnsafeBreak::kNone;
  if (name == "ack_before_commit") return UnsafeBreak::kAckBeforeCommit;
  if (name == "read_past_commit") return UnsafeBreak::kReadPastCommit;
  if (name == "skip_idempotence") return UnsafeBreak::kSkipIdempotence;
  if (name == "skip_sync") return UnsafeBreak::kSkipSync;
  return absl::InvalidArgumentError(absl::StrCat("unknown rule '", std::string(name),
                                                 "'; use none, ack_before_commit, read_past_commit, "
                                                 "skip_idempotence or skip_sync"));
}

}  // namespace brook::server
