// The messages Raft nodes of one group exchange. Plain values: the host serializes them (to protobuf in
// server/) and routes them by `to`; the core never sees a socket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace brook::raft {

enum class MessageType : uint8_t {
  kPreVote,            // "Would you vote for me at term+1?" Changes no state on either side.
  kPreVoteResponse,    //
  kVote,               // RequestVote of the Raft paper.
  kVoteResponse,       //
  kAppend,             // AppendEntries: entries (possibly none) after (index, log_term).
  kAppendResponse,     //
  kHeartbeat,          // Leader liveness + commit index; carries no entries.
  kHeartbeatResponse,  //
  kSnapshot,    // "Your log now starts after `snapshot`": sent when the entries a follower needs are compacted.
  kTimeoutNow,  // Leadership transfer: "campaign now, skipping pre-vote and leases".
};

const char* MessageTypeName(MessageType type);

// Value of Message::context on kVote/kPreVote when the campaign comes from a leadership transfer: voters then
// grant it even while they hear from a fresh leader (the leader asked for it).
inline constexpr uint64_t kCampaignTransfer = 1;
// kHeartbeat context: the leader is going quiet (RaftNode::Quiesce); a caught-up follower of it goes quiet too.
inline constexpr uint64_t kQuiesceHeartbeat = 1;

struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  // The sender's current term. Exception: kPreVote carries the term the sender *would* campaign in (its term + 1),
  // and a granted kPreVoteResponse echoes that term back.
  Term term = 0;
  // kAppend: term of the entry at `index` (the entry before `entries`).
  // kVote/kPreVote: term of the candidate's last entry.
  Term log_term = 0;
  // kAppend: index of the entry just before `entries` ("prevLogIndex").
  // kVote/kPreVote: the candidate's last index.
  // kAppendResponse: on success, the highest index the follower now holds durably and that matches the leader;
  //   on reject, the `index` of the rejected kAppend.
  Index index = 0;
  std::vector<Entry> entries;  // kAppend only.
  // kAppend: leader's commit index. kHeartbeat: min(leader commit, follower's match), so a follower never learns
  // a commit index beyond what it is known to hold.
  Index commit = 0;
  bool reject = false;  // Responses: the request was refused (vote not granted, append did not match).
  // kAppendResponse with reject: the follower's conflict hint, an index <= `index` such that the follower's term
  // there is <= the kAppend's log_term (the last index of a term the leader may share), and the follower's term
  // at that index. The leader skips back over whole terms instead of one index per round trip.
  Index reject_hint = 0;
  Term reject_hint_term = 0;
  SnapshotMeta snapshot;      // kSnapshot only: where the follower's log will start.
  std::string snapshot_data;  // kSnapshot only: opaque state-machine bytes from LogReader::SnapshotData().
  // kVote/kPreVote: kCampaignTransfer or 0. kHeartbeat: kQuiesceHeartbeat or 0, echoed in kHeartbeatResponse.
  uint64_t context = 0;
};

// One line, stable format, for transcripts: "1->2 kAppend term=3 log=2/7 commit=7 entries=[3/8 3/9]".
std::string DescribeMessage(const Message& m, bool with_data = false);
std::string DescribeEntry(const Entry& e, bool with_data = false);

}  // namespace brook::raft
