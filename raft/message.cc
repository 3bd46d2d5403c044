#include "raft/message.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace brook::raft {

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "kPreVote";
    case MessageType::kPreVoteResponse:
      return "kPreVoteResponse";
    case MessageType::kVote:
      return "kVote";
    case MessageType::kVoteResponse:
      return "kVoteResponse";
    case MessageType::kAppend:
      return "kAppend";
    case MessageType::kAppendResponse:
      return "kAppendResponse";
    case MessageType::kHeartbeat:
      return "kHeartbeat";
    case MessageType::kHeartbeatResponse:
      return "kHeartbeatResponse";
    case MessageType::kSnapshot:
      return "kSnapshot";
    case MessageType::kTimeoutNow:
      return "kTimeoutNow";
  }
  return "kUnknown";
}

std::string DescribeEntry(const Entry& e, bool with_data) {
  std::string s = absl::StrCat(e.term, "/", e.index);
  switch (e.type) {
    case EntryType::kNoop:
      absl::StrAppend(&s, " noop");
      break;
    case EntryType::kConfChange:
      absl::StrAppend(&s, " conf");
      break;
    case EntryType::kNormal:
      if (with_data) absl::StrAppend(&s, " \"", absl::string_view(e.data.data(), e.data.size()), "\"");
      break;
  }
  if (with_data) absl::StrAppend(&s, " @", e.base_offset, "+", e.record_count);
  return s;
}

std::string DescribeMessage(const Message& m, bool with_data) {
  std::string s = absl::StrCat(m.from, "->", m.to, " ", MessageTypeName(m.type), " term=", m.term);
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      absl::StrAppend(&s, " log=", m.log_term, "/", m.index);
      if (m.context == kCampaignTransfer) absl::StrAppend(&s, " transfer");
      break;
    case MessageType::kAppend:
      absl::StrAppend(&s, " log=", m.log_term, "/", m.index, " commit=", m.commit);
      if (!m.entries.empty()) {
        absl::StrAppend(&s, " entries=[",
                        absl::StrJoin(m.entries, ", ",
                                      [&](std::string* out, const Entry& e) {
                                        absl::StrAppend(out, DescribeEntry(e, with_data));
                                      }),
                        "]");
      }
      break;
    case MessageType::kAppendResponse:
      absl::StrAppend(&s, " index=", m.index);
      if (m.reject) absl::StrAppend(&s, " rejected hint=", m.reject_hint_term, "/", m.reject_hint);
      break;
    case MessageType::kHeartbeat:
      absl::StrAppend(&s, " commit=", m.commit);
      break;
    case MessageType::kSnapshot:
      absl::StrAppend(&s, " snapshot=", m.snapshot.term, "/", m.snapshot.index,
                      " next_offset=", m.snapshot.next_offset);
      break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse:
      if (m.reject) absl::StrAppend(&s, " rejected");
      break;
    case MessageType::kHeartbeatResponse:
    case MessageType::kTimeoutNow:
      break;
  }
  return s;
}

}  // namespace brook::raft
