// Safety rules brookd can be told to break (brookd --unsafe_break), for the fault-injection suite to prove that
// its checker catches each kind of violation (docs/fault-injection.md). kNone in every real deployment.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace brook::server {

enum class UnsafeBreak {
  kNone,
  kAckBeforeCommit,  // Produce answers once the leader has proposed, before a majority holds the entry
  kReadPastCommit,   // readers are served the leader's or follower's uncommitted log tail
  kSkipIdempotence,  // every produce is treated as new: retries of applied batches are appended again
  kSkipSync,         // Raft's log and votes are written without fsync
};

// Parses "none", "ack_before_commit", "read_past_commit", "skip_idempotence" or "skip_sync".
absl::StatusOr<UnsafeBreak> ParseUnsafeBreak(absl::string_view name);

}  // namespace brook::server
