#include "raft/conf_change.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace brook::raft {
namespace {

constexpr char kMagic = 'C';
constexpr size_t kEncodedSize = 1 + 1 + 8;

bool Contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void Erase(std::vector<NodeId>& ids, NodeId id) { ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end()); }

}  // namespace

std::string EncodeConfChange(const ConfChange& cc) {
  std::string out(kEncodedSize, '\0');
  out[0] = kMagic;
  out[1] = static_cast<char>(cc.type);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((cc.node >> (8 * i)) & 0xff);
  return out;
}

absl::StatusOr<ConfChange> DecodeConfChange(std::string_view data) {
  if (data.size() != kEncodedSize || data[0] != kMagic) {
    return absl::InvalidArgumentError(absl::StrCat("conf change: bad encoding of ", data.size(), " bytes"));
  }
  auto type = static_cast<uint8_t>(data[1]);
  if (type > static_cast<uint8_t>(ConfChangeType::kPromoteLearner)) {
    return absl::InvalidArgumentError(absl::StrCat("conf change: unknown type ", type));
  }
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(type);
  for (int i = 0; i < 8; ++i) cc.node |= static_cast<uint64_t>(static_cast<uint8_t>(data[2 + i])) << (8 * i);
  return cc;
}

absl::StatusOr<ConfState> ApplyConfChange(const ConfState& conf, const ConfChange& cc) {
  if (cc.node == kNoNode) return absl::InvalidArgumentError("conf change: node id 0");
  if (!conf.voters_outgoing.empty()) {
    return absl::InvalidArgumentError("conf change: joint configurations are not supported");
  }
  ConfState next = conf;
  const bool voter = Contains(conf.voters, cc.node);
  const bool learner = Contains(conf.learners, cc.node);
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      if (voter || learner)
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is already a member"));
      next.voters.push_back(cc.node);
      break;
    case ConfChangeType::kAddLearner:
      if (voter || learner)
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is already a member"));
      next.learners.push_back(cc.node);
      break;
    case ConfChangeType::kRemoveNode:
      if (!voter && !learner)
        return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is not a member"));
      if (voter && conf.voters.size() == 1) return absl::InvalidArgumentError("cannot remove the last voter");
      Erase(next.voters, cc.node);
      Erase(next.learners, cc.node);
      break;
    case ConfChangeType::kPromoteLearner:
      if (!learner) return absl::InvalidArgumentError(absl::StrCat("node ", cc.node, " is not a learner"));
      Erase(next.learners, cc.node);
      next.voters.push_back(cc.node);
      break;
  }
  std::sort(next.voters.begin(), next.voters.end());
  std::sort(next.learners.begin(), next.learners.end());
  return next;
}

std::string DescribeConfChange(const ConfChange& cc) {
  static constexpr const char* kNames[] = {"add-voter", "add-learner", "remove-node", "promote-learner"};
  return absl::StrCat(kNames[static_cast<int>(cc.type)], " ", cc.node);
}

std::string DescribeConfState(const ConfState& conf) {
  std::string s = absl::StrCat("voters=(", absl::StrJoin(conf.voters, " "), ")");
  if (!conf.learners.empty()) absl::StrAppend(&s, " learners=(", absl::StrJoin(conf.learners, " "), ")");
  if (!conf.voters_outgoing.empty()) absl::StrAppend(&s, "&&(", absl::StrJoin(conf.voters_outgoing, " "), ")");
  return s;
}

}  // namespace brook::raft
