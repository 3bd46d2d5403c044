// ValidateMessage, the pure judge of Step's input: what an honest sender sends passes; each rule refuses what it
// is for, with the reason the node counts.
#include "raft/validate_message.h"

#include <optional>

#include "gtest/gtest.h"

namespace brook::raft {
namespace {

constexpr Term kTerm = 5;

// Node 2 of voters (1 2 3), following n1 in term 5, commit 10, last index 12.
class ValidateMessageTest : public ::testing::Test {
 protected:
  ValidateMessageTest() { conf_.voters = {1, 2, 3}; }

  ReceiverView View() const {
    return ReceiverView{.id = 2,
                        .term = term_,
                        .role = role_,
                        .leader = leader_,
                        .conf = &conf_,
                        .commit = commit_,
                        .last_index = last_index_,
                        .is_cluster_node = &is_cluster_node_};
  }
  // The reason the message is dropped, or nullopt if it passes.
  std::optional<DropReason> Judge(const Message& m) const {
    DropReason reason = DropReason::kMalformed;
    absl::Status s = ValidateMessage(m, View(), &reason);
    if (s.ok()) return std::nullopt;
    EXPECT_FALSE(s.message().empty());
    return reason;
  }

  static Message Msg(MessageType type, NodeId from = 1, Term term = kTerm) {
    Message m;
    m.type = type;
    m.from = from;
    m.to = 2;
    m.term = term;
    return m;
  }
  // A well-formed append from the leader: `n` entries of term 5 after 4/12.
  static Message Append(size_t n) {
    Message m = Msg(MessageType::kAppend);
    m.index = 12;
    m.log_term = 4;
    for (size_t k = 0; k < n; ++k) {
      Entry e;
      e.index = 13 + k;
      e.term = kTerm;
      e.base_offset = 100 + k;
      e.record_count = 1;
      e.data = "x";
      m.entries.push_back(e);
    }
    m.commit = 12;
    return m;
  }
  static Message Snapshot(Index index, std::vector<NodeId> voters) {
    Message m = Msg(MessageType::kSnapshot);
    m.snapshot.index = index;
    m.snapshot.term = index == 0 ? 0 : 4;
    m.snapshot.conf.voters = std::move(voters);
    m.snapshot_data = "state";
    return m;
  }

  ConfState conf_;
  Term term_ = kTerm;
  Role role_ = Role::kFollower;
  NodeId leader_ = 1;
  Index commit_ = 10;
  Index last_index_ = 12;
  std::function<bool(NodeId)> is_cluster_node_;
};

TEST_F(ValidateMessageTest, PassesWhatAnHonestPeerSends) {
  EXPECT_EQ(Judge(Append(3)), std::nullopt);
  Message hb = Msg(MessageType::kHeartbeat);
  hb.commit = 12;
  hb.context = 77;
  EXPECT_EQ(Judge(hb), std::nullopt);
  EXPECT_EQ(Judge(Snapshot(20, {1, 2, 3})), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kTimeoutNow)), std::nullopt);
  Message vote = Msg(MessageType::kVote, 3, kTerm + 1);
  vote.index = 12;
  vote.log_term = 5;
  vote.context = kCampaignTransfer;
  EXPECT_EQ(Judge(vote), std::nullopt);
  vote.type = MessageType::kPreVote;
  EXPECT_EQ(Judge(vote), std::nullopt);
  // Anything from an older term is left to the term rules (a stale leader is told our term).
  Message stale = Msg(MessageType::kHeartbeat, 3, kTerm - 1);
  EXPECT_EQ(Judge(stale), std::nullopt);

  role_ = Role::kLeader;
  leader_ = 2;
  Message ack = Msg(MessageType::kAppendResponse, 3);
  ack.index = 12;
  EXPECT_EQ(Judge(ack), std::nullopt);
  ack.reject = true;
  ack.reject_hint = 9;
  ack.reject_hint_term = 3;
  EXPECT_EQ(Judge(ack), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeatResponse, 3)), std::nullopt);
  Message notice = Msg(MessageType::kAppendResponse, 3, kTerm + 3);  // "Step down: the term is 8 now."
  EXPECT_EQ(Judge(notice), std::nullopt);

  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  Message granted = Msg(MessageType::kPreVoteResponse, 3, kTerm + 1);
  EXPECT_EQ(Judge(granted), std::nullopt);
  Message refused = Msg(MessageType::kPreVoteResponse, 3, kTerm + 9);
  refused.reject = true;
  EXPECT_EQ(Judge(refused), std::nullopt);
}

TEST_F(ValidateMessageTest, RefusesMisaddressedMessages) {
  Message m = Msg(MessageType::kHeartbeat);
  m.to = 3;
  EXPECT_EQ(Judge(m), DropReason::kMisaddressed);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 2)), DropReason::kMisaddressed) << "from itself";
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, kNoNode)), DropReason::kMisaddressed);
}

TEST_F(ValidateMessageTest, RefusesUnknownTypesAndFieldsATypeNeverCarries) {
  EXPECT_EQ(Judge(Msg(static_cast<MessageType>(200))), DropReason::kMalformed);
  Message hb = Msg(MessageType::kHeartbeat);
  hb.index = 5;
  EXPECT_EQ(Judge(hb), DropReason::kMalformed);
  Message tn = Msg(MessageType::kTimeoutNow);
  tn.snapshot_data = "x";
  EXPECT_EQ(Judge(tn), DropReason::kMalformed);
  Message vote = Msg(MessageType::kVote, 3, kTerm + 1);
  vote.index = 12;
  vote.log_term = 5;
  vote.reject = true;
  EXPECT_EQ(Judge(vote), DropReason::kMalformed);
  vote.reject = false;
  vote.context = 2;
  EXPECT_EQ(Judge(vote), DropReason::kMalformed) << "unknown context";
  vote.context = 0;
  vote.log_term = kTerm + 2;
  EXPECT_EQ(Judge(vote), DropReason::kMalformed) << "last log term above the campaign's";
  vote.log_term = 0;
  EXPECT_EQ(Judge(vote), DropReason::kMalformed) << "index 12 of term 0";
}

TEST_F(ValidateMessageTest, BoundsTerms) {
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, kTerm + kMaxTermStep)), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, kTerm + kMaxTermStep + 1)), DropReason::kTermOutOfBounds);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, ~Term{0})), DropReason::kTermOutOfBounds) << "the attack seen";
  term_ = kMaxTerm - 1;
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, kMaxTerm)), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, kMaxTerm + 1)), DropReason::kTermOutOfBounds)
      << "the ceiling holds even within the step";
  term_ = 0;
  leader_ = kNoNode;
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 1, 0)), DropReason::kTermOutOfBounds) << "term 0 has no leader";
  // A granted vote echoes the term asked for.
  term_ = kTerm;
  role_ = Role::kCandidate;
  EXPECT_EQ(Judge(Msg(MessageType::kVoteResponse, 3, kTerm)), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kVoteResponse, 3, kTerm + 1)), DropReason::kTermOutOfBounds);
}

TEST_F(ValidateMessageTest, RefusesEntriesThatAreNotAContiguousBoundedRun) {
  auto with = [&](auto mangle) {
    Message m = Append(3);
    mangle(m);
    return Judge(m);
  };
  EXPECT_EQ(with([](Message& m) { m.entries[2].index += Index{1} << 40; }), DropReason::kBadEntries);
  EXPECT_EQ(with([](Message& m) { m.entries.erase(m.entries.begin()); }), DropReason::kBadEntries) << "truncated";
  EXPECT_EQ(with([](Message& m) { std::swap(m.entries[0], m.entries[1]); }), DropReason::kBadEntries);
  EXPECT_EQ(with([](Message& m) { m.entries[1].term = kTerm + 1; }), DropReason::kBadEntries) << "above m.term";
  EXPECT_EQ(with([](Message& m) { m.entries[2].term = 4; }), DropReason::kBadEntries) << "decreasing";
  EXPECT_EQ(with([](Message& m) { m.entries[0].term = 3; }), DropReason::kBadEntries) << "below log_term";
  EXPECT_EQ(with([](Message& m) { m.entries[0].type = static_cast<EntryType>(9); }), DropReason::kBadEntries);
  EXPECT_EQ(with([](Message& m) { m.entries[0].type = EntryType::kNoop; }), DropReason::kBadEntries)
      << "records on a no-op";
  EXPECT_EQ(with([](Message& m) { m.entries[1].base_offset = 7; }), DropReason::kBadEntries) << "offset gap";
  EXPECT_EQ(with([](Message& m) {
              m.index = kMaxIndex - 1;
              for (size_t k = 0; k < 3; ++k) m.entries[k].index = m.index + 1 + k;
              m.commit = 0;
            }),
            DropReason::kBadEntries)
      << "prev index + count past the index space";
  EXPECT_EQ(with([](Message& m) { m.entries = Append(kMaxEntriesPerAppend + 1).entries; }),
            DropReason::kBadEntries);
  EXPECT_EQ(with([](Message& m) { m.entries[0].data = std::string(kMaxMessageBytes, 'x'); }),
            DropReason::kBadEntries);
  EXPECT_EQ(with([](Message& m) { m.entries = Append(kMaxEntriesPerAppend).entries; }), std::nullopt);
}

TEST_F(ValidateMessageTest, RefusesIndexesTheMessageCannotJustify) {
  Message m = Append(2);
  m.commit = 15;
  EXPECT_EQ(Judge(m), DropReason::kUnjustifiedIndex) << "commit beyond the last entry sent";
  Message hb = Msg(MessageType::kHeartbeat);
  hb.commit = 13;
  EXPECT_EQ(Judge(hb), DropReason::kUnjustifiedIndex) << "commit beyond our log";
  role_ = Role::kLeader;
  leader_ = 2;
  Message ack = Msg(MessageType::kAppendResponse, 3);
  ack.index = 13;
  EXPECT_EQ(Judge(ack), DropReason::kUnjustifiedIndex) << "an ack of an entry the leader never had";
}

TEST_F(ValidateMessageTest, MembershipDependsOnTheDirection) {
  // Strangers: nothing, unless the host vouches for them (a member of a configuration we have not applied).
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 99, kTerm + 1)), DropReason::kNotMember);
  Message vote = Msg(MessageType::kPreVote, 99, kTerm + 1);
  vote.index = 20;
  vote.log_term = 5;
  EXPECT_EQ(Judge(vote), DropReason::kNotMember);
  is_cluster_node_ = [](NodeId id) { return id == 4; };
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 4, kTerm + 1)), std::nullopt) << "a leader we do not know yet";
  vote.from = 4;
  EXPECT_EQ(Judge(vote), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 99, kTerm + 1)), DropReason::kNotMember);
  EXPECT_EQ(Judge(Msg(MessageType::kTimeoutNow, 4)), DropReason::kNotMember) << "not for newer members";
  // A learner here may be a voter in a newer configuration: it may lead and campaign.
  conf_.learners = {5};
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 5, kTerm + 1)), std::nullopt);
  // Answers: only from members (to a leader), only from voters (to a candidate).
  role_ = Role::kLeader;
  leader_ = 2;
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeatResponse, 5)), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeatResponse, 4)), DropReason::kNotMember);
  role_ = Role::kCandidate;
  leader_ = kNoNode;
  EXPECT_EQ(Judge(Msg(MessageType::kVoteResponse, 3)), std::nullopt);
  EXPECT_EQ(Judge(Msg(MessageType::kVoteResponse, 5)), DropReason::kNotMember) << "a learner's vote";
}

TEST_F(ValidateMessageTest, AJoiningNodeHearsStrangersOnlyWhenTheHostCannotTell) {
  conf_ = ConfState{};
  leader_ = kNoNode;
  term_ = 0;
  commit_ = 0;
  last_index_ = 0;
  Message hb = Msg(MessageType::kHeartbeat, 1, 1);
  EXPECT_EQ(Judge(hb), std::nullopt) << "no configuration and no host knowledge: anyone may be its leader";
  EXPECT_EQ(Judge(Snapshot(0, {1, 2, 3})), std::nullopt) << "the log start, which carries the membership";
  is_cluster_node_ = [](NodeId id) { return id <= 3; };
  EXPECT_EQ(Judge(hb), std::nullopt);
  hb.from = 99;
  EXPECT_EQ(Judge(hb), DropReason::kNotMember);
}

TEST_F(ValidateMessageTest, RefusesASecondLeaderAndAnswersNobodyAskedFor) {
  EXPECT_EQ(Judge(Msg(MessageType::kHeartbeat, 3)), DropReason::kWrongRole) << "n1 leads term 5";
  EXPECT_EQ(Judge(Msg(MessageType::kTimeoutNow, 3)), DropReason::kWrongRole);
  EXPECT_EQ(Judge(Msg(MessageType::kTimeoutNow, 1, kTerm + 1)), DropReason::kWrongRole) << "not our term";
  // Answers from a later term would make this follower adopt it: only for questions it is asking.
  EXPECT_EQ(Judge(Msg(MessageType::kAppendResponse, 3, kTerm + 1)), DropReason::kWrongRole);
  Message refused = Msg(MessageType::kVoteResponse, 3, kTerm + 1);
  refused.reject = true;
  EXPECT_EQ(Judge(refused), DropReason::kWrongRole);
  // At our term, late answers are harmless: the role's step function ignores them, as it always did.
  EXPECT_EQ(Judge(Msg(MessageType::kAppendResponse, 3)), std::nullopt);
  role_ = Role::kLeader;
  leader_ = 2;
  EXPECT_EQ(Judge(Msg(MessageType::kAppend, 1)), DropReason::kWrongRole) << "this node leads term 5";
}

TEST_F(ValidateMessageTest, ChecksSnapshotsAgainstWhatALeaderCanSend) {
  EXPECT_EQ(Judge(Snapshot(20, {})), DropReason::kBadSnapshot) << "no voters";
  EXPECT_EQ(Judge(Snapshot(20, {1, 0, 2})), DropReason::kBadSnapshot) << "node 0";
  EXPECT_EQ(Judge(Snapshot(20, {1, 2, 2})), DropReason::kBadSnapshot) << "duplicate";
  Message m = Snapshot(20, {1, 2, 3});
  m.snapshot.conf.learners = {3};
  EXPECT_EQ(Judge(m), DropReason::kBadSnapshot) << "a learner that is also a voter";
  m = Snapshot(20, {1, 2, 3});
  m.snapshot.term = kTerm + 1;
  EXPECT_EQ(Judge(m), DropReason::kBadSnapshot) << "a snapshot of a term the leader has not reached";
  m.snapshot.term = 0;
  EXPECT_EQ(Judge(m), DropReason::kBadSnapshot) << "index 20 of term 0";
  EXPECT_EQ(Judge(Snapshot(20, {1, 3, 4})), DropReason::kBadSnapshot) << "this member is missing";
  EXPECT_EQ(Judge(Snapshot(20, {1, 3})), DropReason::kBadSnapshot);
  std::vector<NodeId> many;
  for (NodeId id = 1; id <= kMaxConfMembers + 1; ++id) many.push_back(id);
  EXPECT_EQ(Judge(Snapshot(20, many)), DropReason::kBadSnapshot);
  m = Snapshot(20, {1, 2, 3});
  m.snapshot_data.assign(kMaxMessageBytes + 1, 's');
  EXPECT_EQ(Judge(m), DropReason::kBadSnapshot);
  EXPECT_EQ(Judge(Snapshot(9, {1, 2, 3})), DropReason::kStaleSnapshot) << "below commit 10";
  EXPECT_EQ(Judge(Snapshot(10, {1, 2, 3})), std::nullopt) << "at commit: answered with our commit";
  // The sender need not be in it: a leader that joined after its own log start sends an older configuration.
  EXPECT_EQ(Judge(Snapshot(20, {2, 3, 4})), std::nullopt);
}

TEST(DroppedMessages, CountsByReasonWithStableNames) {
  DroppedMessages d;
  d.Add(DropReason::kNotMember);
  d.Add(DropReason::kNotMember);
  d.Add(DropReason::kBadSnapshot);
  EXPECT_EQ(d[DropReason::kNotMember], 2u);
  EXPECT_EQ(d.total(), 3u);
  EXPECT_STREQ(DropReasonName(DropReason::kNotMember), "not_member");
  EXPECT_STREQ(DropReasonName(DropReason::kStaleSnapshot), "stale_snapshot");
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    EXPECT_STRNE(DropReasonName(static_cast<DropReason>(r)), "unknown") << r;
  }
}

}  // namespace
}  // namespace brook::raft
