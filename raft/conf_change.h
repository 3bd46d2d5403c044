// Membership changes, one server at a time (see README.md, "Membership"). A ConfChange travels in the log as the
// `data` of a kConfChange entry and takes effect on every node when that entry is applied.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace brook::raft {

enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // Add a voter directly. Prefer kAddLearner + kPromoteLearner: a new voter with an empty log
                    // can stall commits until it catches up.
  kAddLearner = 1,  // Add a non-voting member that receives the log.
  kRemoveNode = 2,  // Remove a voter or learner.
  kPromoteLearner = 3,  // Make a caught-up learner a voter (the leader refuses while it lags).
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddLearner;
  NodeId node = kNoNode;
  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

std::string EncodeConfChange(const ConfChange& cc);
absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data);

// The membership after `cc`, or INVALID_ARGUMENT if `cc` does not apply to `conf` (adding a member twice, removing
// a stranger, promoting a non-learner, removing the last voter). Pure and deterministic: every node applying the
// same entry to the same conf reaches the same answer, so an invalid change is skipped everywhere alike.
absl::StatusOr<ConfState> ApplyConfChange(const ConfState& conf, const ConfChange& cc);

std::string DescribeConfChange(const ConfChange& cc);
std::string DescribeConfState(const ConfState& conf);

}  // namespace brook::raft
