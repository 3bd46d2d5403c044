// raft::Message <-> brook.internal.RaftMessage: every message type survives the round trip through bytes, with
// entries of every type and, for kSnapshot, the snapshot metadata and data.
#include "server/codec/raft_codec.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace brook::server {
namespace {

constexpr raft::MessageType kAllTypes[] = {
    raft::MessageType::kPreVote,   raft::MessageType::kPreVoteResponse,
    raft::MessageType::kVote,      raft::MessageType::kVoteResponse,
    raft::MessageType::kAppend,    raft::MessageType::kAppendResponse,
    raft::MessageType::kHeartbeat, raft::MessageType::kHeartbeatResponse,
    raft::MessageType::kSnapshot,  raft::MessageType::kTimeoutNow,
};

raft::Message Sample(raft::MessageType type) {
  raft::Message m;
  m.type = type;
  m.from = 3;
  m.to = 0xffff'ffff'ffffull;
  m.term = 17;
  m.log_term = 16;
  m.index = 1'000'000'007;
  m.commit = 999;
  m.reject = true;
  m.reject_hint = 40;
  m.reject_hint_term = 12;
  m.context = raft::kCampaignTransfer;
  m.entries.push_back(raft::Entry{101, 16, raft::EntryType::kNormal, 5'000, 3, std::string("a\0b\xff", 4)});
  m.entries.push_back(raft::Entry{102, 17, raft::EntryType::kNoop, 5'003, 0, ""});
  m.entries.push_back(raft::Entry{103, 17, raft::EntryType::kConfChange, 5'003, 0, "conf"});
  if (type == raft::MessageType::kSnapshot) {
    m.snapshot.index = 100;
    m.snapshot.term = 15;
    m.snapshot.next_offset = 5'000;
    m.snapshot.conf = raft::ConfState{{1, 2, 3}, {4}, {1, 2, 5}};
    m.snapshot_data = std::string(1 << 16, '\x7f');
  }
  return m;
}

void ExpectSameMessage(const raft::Message& want, const raft::Message& got) {
  const std::string name = raft::MessageTypeName(want.type);
  EXPECT_EQ(got.type, want.type) << name;
  EXPECT_EQ(got.from, want.from) << name;
  EXPECT_EQ(got.to, want.to) << name;
  EXPECT_EQ(got.term, want.term) << name;
  EXPECT_EQ(got.log_term, want.log_term) << name;
  EXPECT_EQ(got.index, want.index) << name;
  EXPECT_EQ(got.commit, want.commit) << name;
  EXPECT_EQ(got.reject, want.reject) << name;
  EXPECT_EQ(got.reject_hint, want.reject_hint) << name;
  EXPECT_EQ(got.reject_hint_term, want.reject_hint_term) << name;
  EXPECT_EQ(got.context, want.context) << name;
  ASSERT_EQ(got.entries.size(), want.entries.size()) << name;
  for (size_t i = 0; i < want.entries.size(); ++i) {
    EXPECT_TRUE(got.entries[i] == want.entries[i])
        << name << " entry " << i << ": want " << raft::DescribeEntry(want.entries[i], true) << " got "
        << raft::DescribeEntry(got.entries[i], true);
  }
  EXPECT_TRUE(got.snapshot == want.snapshot) << name << ": snapshot metadata differs";
  EXPECT_EQ(got.snapshot_data, want.snapshot_data) << name;
}

TEST(RaftCodec, EveryMessageTypeRoundTripsThroughBytes) {
  for (raft::MessageType type : kAllTypes) {
    const raft::Message m = Sample(type);
    internal::RaftMessage proto;
    ToProto(m, &proto);
    internal::RaftMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString())) << raft::MessageTypeName(type);
    ExpectSameMessage(m, FromProto(parsed));
  }
}

TEST(RaftCodec, TheMovingOverloadsConvertAsTheCopyingOnes) {
  for (raft::MessageType type : kAllTypes) {
    const raft::Message m = Sample(type);
    internal::RaftMessage copied, moved;
    ToProto(m, &copied);
    ToProto(raft::Message(m), &moved);
    ASSERT_EQ(moved.SerializeAsString(), copied.SerializeAsString()) << raft::MessageTypeName(type);
    internal::RaftMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(moved.SerializeAsString()));
    ExpectSameMessage(m, FromProto(std::move(parsed)));
  }
}

TEST(RaftCodec, DefaultMessageRoundTrips) {
  raft::Message m;
  internal::RaftMessage proto;
  ToProto(m, &proto);
  ExpectSameMessage(m, FromProto(proto));
}

TEST(RaftCodec, OnlySnapshotMessagesCarrySnapshotFields) {
  raft::Message m = Sample(raft::MessageType::kAppend);
  m.snapshot_data = "stray";  // ignored: only kSnapshot carries snapshot data on the wire
  internal::RaftMessage proto;
  ToProto(m, &proto);
  EXPECT_FALSE(proto.has_snapshot());
  EXPECT_TRUE(proto.snapshot_data().empty());
}

TEST(RaftCodec, ConfStateRoundTrips) {
  raft::ConfState c{{1, 2, 3}, {9}, {1, 2, 4}};
  internal::ConfState proto;
  ConfToProto(c, &proto);
  EXPECT_TRUE(ConfFromProto(proto) == c);
  EXPECT_TRUE(ConfFromProto(internal::ConfState()) == raft::ConfState());
}

}  // namespace
}  // namespace brook::server
