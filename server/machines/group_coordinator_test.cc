// The group coordinator alone: its refusals, fencing, static membership and assignors, and a seeded simulation of
// consumers that join, heartbeat (some answers lost), commit, crash, pause past their session, restart and leave,
// checked after every step: no partition is owned by two members, no live consumer believes it holds what another
// holds, every commit a consumer may make is accepted and every one it may not is refused, replicas that apply the
// same commands agree, and a snapshot restores to the same state.
#include "server/machines/group_coordinator.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace brook::server {
namespace {

internal::GroupCommand Join(const std::string& group, const std::string& member,
                            const std::vector<std::string>& topics, const std::map<std::string, uint32_t>& counts,
                            const std::string& instance = "", const std::string& assignor = "") {
  internal::GroupCommand c;
  c.set_group(group);
  c.set_now_ms(1000);
  auto* hb = c.mutable_heartbeat();
  hb->set_member_id(member);
  hb->set_instance_id(instance);
  hb->set_member_epoch(0);
  hb->set_has_topics(true);
  for (const auto& t : topics) hb->add_topics(t);
  hb->set_assignor(assignor);
  hb->set_session_timeout_ms(10000);
  hb->set_rebalance_timeout_ms(30000);
  for (const auto& [t, n] : counts) (*hb->mutable_partition_counts())[t] = n;
  return c;
}

internal::GroupCommand Beat(const std::string& group, const std::string& member, int64_t epoch,
                            const PartitionSet& owned) {
  internal::GroupCommand c;
  c.set_group(group);
  c.set_now_ms(2000);
  auto* hb = c.mutable_heartbeat();
  hb->set_member_id(member);
  hb->set_member_epoch(epoch);
  hb->set_has_owned(true);
  for (const auto& tp : owned) {
    if (hb->owned().empty() || hb->owned().rbegin()->topic() != tp.topic) hb->add_owned()->set_topic(tp.topic);
    hb->mutable_owned()->rbegin()->add_partitions(tp.partition);
  }
  return c;
}

internal::GroupCommand CommitOf(const std::string& group, const std::string& member, uint32_t epoch,
                                const TopicPartition& tp, uint64_t offset) {
  internal::GroupCommand c;
  c.set_group(group);
  c.set_now_ms(3000);
  c.mutable_commit()->set_member_id(member);
  c.mutable_commit()->set_member_epoch(epoch);
  auto* o = c.mutable_commit()->add_offsets();
  o->set_topic(tp.topic);
  o->set_partition(tp.partition);
  o->set_offset(offset);
  return c;
}

internal::GroupCommand RemoveOf(const std::string& group, const std::string& member, uint32_t epoch) {
  internal::GroupCommand c;
  c.set_group(group);
  c.mutable_remove_member()->set_member_id(member);
  c.mutable_remove_member()->set_member_epoch(epoch);
  return c;
}

PartitionSet All(const std::string& topic, uint32_t n) {
  PartitionSet out;
  for (uint32_t p = 0; p < n; ++p) out.insert({topic, p});
  return out;
}

// Heartbeats every member (each reporting what it was last told it owns) until nothing changes.
void Settle(GroupCoordinator& c, const std::string& group) {
  std::map<std::string, std::pair<uint32_t, PartitionSet>> told;
  for (int round = 0; round < 20; ++round) {
    bool changed = false;
    for (const auto& [id, m] : c.Find(group)->members) {
      auto t = told.find(id);
      auto cmd =
          t == told.end() ? Beat(group, id, m.epoch, {}) : Beat(group, id, t->second.first, t->second.second);
      if (t == told.end()) cmd.mutable_heartbeat()->set_has_owned(false);
      changed |= c.WouldChange(cmd);
      auto r = c.Apply(cmd);
      ASSERT_TRUE(r.status.ok()) << r.status;
      told[id] = {r.member_epoch, r.assignment};
    }
    if (!changed) return;
  }
  FAIL() << "the group did not settle in 20 rounds";
}

TEST(GroupCoordinatorTest, APartitionMovesOnlyAfterItsOwnerGivesItUp) {
  GroupCoordinator c;
  auto a = c.Apply(Join("g", "a", {"t"}, {{"t", 4}}));
  ASSERT_TRUE(a.status.ok()) << a.status;
  EXPECT_EQ(a.assignment, All("t", 4));
  EXPECT_EQ(a.member_epoch, 1u);
  auto b = c.Apply(Join("g", "b", {"t"}, {{"t", 4}}));
  ASSERT_TRUE(b.status.ok());
  EXPECT_TRUE(b.assignment.empty()) << "b got partitions a still owns";
  // a is told to give two up; they stay a's until it says it no longer holds them.
  auto a2 = c.Apply(Beat("g", "a", 1, All("t", 4)));
  ASSERT_TRUE(a2.status.ok());
  EXPECT_EQ(a2.revoking.size(), 2u);
  EXPECT_EQ(a2.assignment.size(), 2u);
  EXPECT_TRUE(c.Apply(Beat("g", "b", b.member_epoch, {})).assignment.empty());
  // a commits on revocation (allowed: it still owns them), then releases them.
  for (const auto& tp : a2.revoking) EXPECT_TRUE(c.Apply(CommitOf("g", "a", 1, tp, 7)).status.ok());
  auto a3 = c.Apply(Beat("g", "a", a2.member_epoch, a2.assignment));
  EXPECT_TRUE(a3.revoking.empty());
  auto b2 = c.Apply(Beat("g", "b", b.member_epoch, {}));
  EXPECT_EQ(b2.assignment, a2.revoking);
  // a keeps the partitions that need not move.
  EXPECT_EQ(a3.assignment, a2.assignment);
}

TEST(GroupCoordinatorTest, AStaleMembersCommitIsRefusedAndChangesNothing) {
  GroupCoordinator c;
  ASSERT_TRUE(c.Apply(Join("g", "a", {"t"}, {{"t", 2}})).status.ok());
  const TopicPartition p0{"t", 0};
  ASSERT_TRUE(c.Apply(CommitOf("g", "a", 1, p0, 10)).status.ok());
  // a's session expires; b joins and gets everything; b commits further.
  ASSERT_TRUE(c.Apply(RemoveOf("g", "a", 1)).status.ok());
  auto b = c.Apply(Join("g", "b", {"t"}, {{"t", 2}}));
  ASSERT_EQ(b.assignment, All("t", 2));
  ASSERT_TRUE(c.Apply(CommitOf("g", "b", b.member_epoch, p0, 50)).status.ok());
  // The paused a comes back and commits an older position: refused, offset unchanged.
  auto stale = c.Apply(CommitOf("g", "a", 1, p0, 11));
  EXPECT_EQ(stale.refusal, GroupRefusal::kUnknownMember);
  EXPECT_EQ(stale.status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.Find("g")->offsets.at(p0).offset, 50u);
  // Its heartbeat tells it to join again.
  EXPECT_EQ(c.Apply(Beat("g", "a", 1, All("t", 2))).refusal, GroupRefusal::kUnknownMember);
  // A member that still exists but gave the partition up cannot commit it either.
  auto a = c.Apply(Join("g", "a", {"t"}, {{"t", 2}}));
  auto bb = c.Apply(Beat("g", "b", b.member_epoch, All("t", 2)));
  ASSERT_EQ(bb.revoking.size(), 1u);
  const TopicPartition moved = *bb.revoking.begin();
  ASSERT_TRUE(c.Apply(Beat("g", "b", bb.member_epoch, bb.assignment)).status.ok());
  auto not_owner = c.Apply(CommitOf("g", "b", bb.member_epoch, moved, 1));
  EXPECT_EQ(not_owner.refusal, GroupRefusal::kNotOwner) << not_owner.status;
  // An epoch from before a member got a partition is stale.
  auto a2 = c.Apply(Beat("g", "a", a.member_epoch, {}));
  ASSERT_TRUE(a2.assignment.contains(moved));
  if (a.member_epoch < a2.member_epoch) {
    EXPECT_EQ(c.Apply(CommitOf("g", "a", a.member_epoch, moved, 1)).refusal, GroupRefusal::kStaleEpoch);
  }
  EXPECT_TRUE(c.Apply(CommitOf("g", "a", a2.member_epoch, moved, 60)).status.ok());
  // A member of one group committing for another.
  ASSERT_TRUE(c.Apply(Join("h", "x", {"t"}, {{"t", 2}})).status.ok());
  EXPECT_EQ(c.Apply(CommitOf("h", "b", bb.member_epoch, p0, 1)).refusal, GroupRefusal::kUnknownMember);
}

TEST(GroupCoordinatorTest, AStaticMemberKeepsItsPartitionsAcrossAQuickRestart) {
  GroupCoordinator c;
  ASSERT_TRUE(c.Apply(Join("g", "a1", {"t"}, {{"t", 6}}, "inst-a")).status.ok());
  ASSERT_TRUE(c.Apply(Join("g", "b1", {"t"}, {{"t", 6}}, "inst-b")).status.ok());
  Settle(c, "g");
  const auto before = c.Find("g")->members.at("a1").owned;
  const uint32_t epoch = c.Find("g")->epoch;
  ASSERT_EQ(before.size(), 3u);
  // a's process is killed and restarts: a new member id, the same instance id.
  auto a2 = c.Apply(Join("g", "a2", {"t"}, {{"t", 6}}, "inst-a"));
  ASSERT_TRUE(a2.status.ok()) << a2.status;
  EXPECT_EQ(a2.assignment.size(), 3u);
  EXPECT_EQ(c.Find("g")->epoch, epoch) << "a quick restart of a static member must not rebalance";
  EXPECT_FALSE(c.Find("g")->members.contains("a1"));
  EXPECT_EQ(c.Apply(CommitOf("g", "a1", a2.member_epoch, *a2.assignment.begin(), 1)).refusal,
            GroupRefusal::kUnknownMember);
  // Leaving for a restart (-2) keeps the partitions; the leader's session timer removes it later.
  auto away = Beat("g", "a2", a2.member_epoch, a2.assignment);
  away.mutable_heartbeat()->set_member_epoch(-2);
  ASSERT_TRUE(c.Apply(away).status.ok());
  EXPECT_TRUE(c.Find("g")->members.at("a2").away);
  EXPECT_EQ(c.Find("g")->members.at("a2").owned.size(), 3u);
}

TEST(GroupCoordinatorTest, RefusalsSayWhy) {
  GroupCoordinator c;
  EXPECT_EQ(c.Apply(Beat("nope", "m", 1, {})).refusal, GroupRefusal::kUnknownMember);
  EXPECT_EQ(c.Apply(Join("g", "a", {}, {})).refusal, GroupRefusal::kInvalid);
  auto bad = c.Apply(Join("g", "a", {"t"}, {{"t", 1}}, "", "roundrobin"));
  EXPECT_EQ(bad.refusal, GroupRefusal::kInvalid);
  EXPECT_NE(bad.status.message().find("unknown assignor"), std::string::npos);
  ASSERT_TRUE(c.Apply(Join("g", "a", {"t"}, {{"t", 1}})).status.ok());
  EXPECT_EQ(c.Apply(Join("g", "b", {"t"}, {{"t", 1}}, "", "range")).refusal, GroupRefusal::kInvalid);
  EXPECT_EQ(c.Apply(Beat("g", "a", 9, {})).refusal, GroupRefusal::kFencedEpoch);
  internal::GroupCommand del;
  del.set_group("g");
  del.mutable_delete_group();
  EXPECT_EQ(c.Apply(del).refusal, GroupRefusal::kGroupNotEmpty);
  auto plain = CommitOf("g", "", 0, {"t", 0}, 5);
  EXPECT_EQ(c.Apply(plain).refusal, GroupRefusal::kGroupNotEmpty);
  auto leave = Beat("g", "a", 1, {});
  leave.mutable_heartbeat()->set_member_epoch(-1);
  ASSERT_TRUE(c.Apply(leave).status.ok());
  EXPECT_TRUE(c.Apply(plain).status.ok()) << "an empty group takes plain commits";
  EXPECT_TRUE(c.Apply(del).status.ok());
  EXPECT_EQ(c.Find("g"), nullptr);
  EXPECT_EQ(c.Apply(del).refusal, GroupRefusal::kUnknownGroup);
}

TEST(GroupCoordinatorTest, BoundsHoldWhateverTheEntryBytesSay) {
  GroupCoordinator c;
  auto huge = Join("g2", "a", {"t"}, {{"t", 2'000'000'000}});
  auto r = c.Apply(huge);
  EXPECT_EQ(r.refusal, GroupRefusal::kInvalid);
  EXPECT_NE(r.status.message().find("partitions in one topic"), std::string::npos) << r.status;
  std::map<std::string, uint32_t> wide;
  for (int i = 0; i < 20; ++i) wide[absl::StrCat("t", i)] = 1000;
  EXPECT_NE(c.Apply(Join("g2", "a", {"t0"}, wide)).status.message().find("partitions read by the group"),
            std::string::npos);
  EXPECT_EQ(c.Apply(Join(std::string(300, 'g'), "a", {"t"}, {{"t", 1}})).refusal, GroupRefusal::kInvalid);
  EXPECT_EQ(c.Apply(Join("g2", std::string(300, 'm'), {"t"}, {{"t", 1}})).refusal, GroupRefusal::kInvalid);
  EXPECT_EQ(c.Find("g2"), nullptr) << "a refused join created its group";
  for (size_t i = 0; i < GroupCoordinator::kMaxMembers; ++i) {
    ASSERT_TRUE(c.Apply(Join("big", absl::StrCat("m", i), {"t"}, {{"t", 1}})).status.ok());
  }
  EXPECT_EQ(c.Apply(Join("big", "one-more", {"t"}, {{"t", 1}})).refusal, GroupRefusal::kGroupFull);
}

TEST(GroupCoordinatorTest, TheRangeAssignorGivesContiguousRanges) {
  std::vector<AssignorMember> members = {{"b", "b", {"t"}, {}}, {"a", "a", {"t", "u"}, {}}};
  auto a = AssignRange(members, {{"t", 5}, {"u", 2}});
  EXPECT_EQ(a["a"], (PartitionSet{{"t", 0}, {"t", 1}, {"t", 2}, {"u", 0}, {"u", 1}}));
  EXPECT_EQ(a["b"], (PartitionSet{{"t", 3}, {"t", 4}}));
}

TEST(GroupCoordinatorTest, TheUniformAssignorIsStickyAndEven) {
  std::vector<AssignorMember> members = {{"a", "a", {"t"}, {}}, {"b", "b", {"t"}, {}}};
  auto first = AssignUniform(members, {{"t", 12}});
  EXPECT_EQ(first["a"].size(), 6u);
  members[0].previous = first["a"];
  members[1].previous = first["b"];
  members.push_back({"c", "c", {"t"}, {}});
  auto second = AssignUniform(members, {{"t", 12}});
  for (const auto& id : {"a", "b", "c"}) EXPECT_EQ(second[id].size(), 4u) << id;
  for (const auto& id : {"a", "b"}) {
    for (const auto& tp : second[id])
      EXPECT_TRUE(first[id].contains(tp)) << id << " got a partition it did not have";
  }
}

// ---- the seeded simulation ----

struct Consumer {
  std::string member;
  std::string instance;
  uint32_t epoch = 0;
  PartitionSet held;
  bool alive = true;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : rng_(seed) {}

  void Run(int steps) {
    for (int i = 0; i < steps && !::testing::Test::HasFailure(); ++i) {
      Step();
      Check();
    }
    // Everyone comes back and heartbeats: the group settles with every partition owned once and evenly.
    for (auto& c : consumers_) {
      if (!c.alive) Rejoin(c);
    }
    ExpireOrphans();
    for (int round = 0; round < 30; ++round) {
      for (auto& c : consumers_) Heartbeat(c, /*lose=*/false);
    }
    Check();
    const ConsumerGroup* g = leader_.Find("g");
    ASSERT_NE(g, nullptr);
    size_t owned = 0, least = SIZE_MAX, most = 0;
    for (const auto& [id, m] : g->members) {
      EXPECT_TRUE(m.revoking.empty()) << id;
      owned += m.owned.size();
      least = std::min(least, m.owned.size());
      most = std::max(most, m.owned.size());
    }
    EXPECT_EQ(owned, partitions_) << "not every partition is owned after settling";
    EXPECT_LE(most - least, 1u) << "uneven after settling";
  }

 private:
  GroupApplied Apply(const internal::GroupCommand& cmd) {
    auto r = leader_.Apply(cmd);
    auto f = follower_.Apply(cmd);
    EXPECT_EQ(r.status, f.status);
    return r;
  }
  void Rejoin(Consumer& c) {
    c.member = absl::StrCat("m", next_id_++);
    c.held.clear();
    c.alive = true;
    auto r = Apply(Join("g", c.member, {"t"}, {{"t", partitions_}}, c.instance));
    ASSERT_TRUE(r.status.ok()) << r.status;
    c.epoch = r.member_epoch;
    c.held = r.assignment;
  }
  void Heartbeat(Consumer& c, bool lose) {
    if (!c.alive) return;
    auto cmd = Beat("g", c.member, c.epoch, c.held);
    (*cmd.mutable_heartbeat()->mutable_partition_counts())["t"] = partitions_;
    auto r = Apply(cmd);
    if (r.refusal == GroupRefusal::kUnknownMember || r.refusal == GroupRefusal::kFencedEpoch) {
      Rejoin(c);  // fenced: drop everything, join as new
      return;
    }
    ASSERT_TRUE(r.status.ok()) << r.status;
    if (lose) return;
    c.epoch = r.member_epoch;
    for (const auto& tp : r.revoking) {  // commit on revocation, then let go
      if (c.held.contains(tp)) ExpectCommit(c, tp, true);
    }
    c.held = r.assignment;
  }
  void ExpectCommit(const Consumer& c, const TopicPartition& tp, bool accepted) {
    auto r = Apply(CommitOf("g", c.member, c.epoch, tp, ++offset_));
    EXPECT_EQ(r.status.ok(), accepted) << c.member << " committing " << tp.topic << "/" << tp.partition << ": "
                                       << r.status;
  }
  void Step() {
    std::uniform_int_distribution<int> pick(0, 99);
    const int what = pick(rng_);
    if (consumers_.size() < 8 && (consumers_.empty() || what < 8)) {
      Consumer c;
      c.instance = pick(rng_) < 40 ? absl::StrCat("inst", consumers_.size()) : "";
      consumers_.push_back(c);
      Rejoin(consumers_.back());
      return;
    }
    Consumer& c = consumers_[std::uniform_int_distribution<size_t>(0, consumers_.size() - 1)(rng_)];
    if (what < 60) {
      Heartbeat(c, pick(rng_) < 10);
    } else if (what < 75 && c.alive && !c.held.empty()) {
      ExpectCommit(c, *std::next(c.held.begin(), pick(rng_) % c.held.size()), true);
    } else if (what < 80 && c.alive) {  // crash (kill -9): the leader's session timer removes it
      c.alive = false;
      c.held.clear();
      const auto& m = leader_.Find("g")->members;
      if (auto it = m.find(c.member); it != m.end()) (void)Apply(RemoveOf("g", c.member, it->second.epoch));
    } else if (what < 85 && c.alive) {  // paused past its session: removed; its late commit is refused
      const auto& m = leader_.Find("g")->members;
      if (auto it = m.find(c.member); it != m.end()) {
        (void)Apply(RemoveOf("g", c.member, it->second.epoch));
        if (!c.held.empty()) ExpectCommit(c, *c.held.begin(), false);
      }
      c.held.clear();  // the client's own session clock says its partitions are lost
      Heartbeat(c, false);
    } else if (what < 90 && !c.instance.empty() && c.alive) {  // a static member restarts quickly
      Rejoin(c);
    } else if (what < 93 && c.alive) {  // leaves cleanly
      for (const auto& tp : c.held) ExpectCommit(c, tp, true);
      auto leave = Beat("g", c.member, c.epoch, {});
      leave.mutable_heartbeat()->set_member_epoch(-1);
      (void)Apply(leave);
      c.alive = false;
      c.held.clear();
    } else if (what < 95 && partitions_ < 24) {
      partitions_ += 2;  // the topic grows; the next heartbeat brings the count
    } else if (what < 97) {
      ExpireOrphans();
    } else if (!c.alive) {
      Rejoin(c);
    }
  }
  // The leader's session timer: members no live consumer heartbeats for (fenced ones that joined again under a
  // new id) are removed.
  void ExpireOrphans() {
    const ConsumerGroup* g = leader_.Find("g");
    if (g == nullptr) return;
    std::vector<std::pair<std::string, uint32_t>> orphans;
    for (const auto& [id, m] : g->members) {
      bool live = false;
      for (const auto& c : consumers_) live |= c.alive && c.member == id;
      if (!live) orphans.emplace_back(id, m.epoch);
    }
    for (const auto& [id, epoch] : orphans) EXPECT_TRUE(Apply(RemoveOf("g", id, epoch)).status.ok());
  }
  void Check() {
    const ConsumerGroup* g = leader_.Find("g");
    if (g == nullptr) return;
    std::map<TopicPartition, std::string> owner;
    for (const auto& [id, m] : g->members) {
      for (const auto& [tp, since] : m.owned) {
        auto [it, fresh] = owner.emplace(tp, id);
        EXPECT_TRUE(fresh) << tp.topic << "/" << tp.partition << " owned by " << it->second << " and " << id;
      }
      for (const auto& tp : m.revoking) EXPECT_TRUE(m.owned.contains(tp));
    }
    for (const auto& c : consumers_) {
      for (const auto& tp : c.held) {
        auto it = owner.find(tp);
        EXPECT_TRUE(it != owner.end() && it->second == c.member)
            << c.member << " believes it holds " << tp.topic << "/" << tp.partition << " but the owner is "
            << (it == owner.end() ? "nobody" : it->second);
      }
    }
    if (++checks_ % 50 == 0) {
      EXPECT_TRUE(SameGroups(leader_, follower_)) << "replicas applying the same commands disagree";
      GroupCoordinator restored;
      ASSERT_TRUE(restored.Restore(leader_.Snapshot()).ok());
      EXPECT_TRUE(SameGroups(leader_, restored)) << "a snapshot did not restore to the same state";
    }
  }

  std::mt19937_64 rng_;
  GroupCoordinator leader_, follower_;
  std::vector<Consumer> consumers_;
  uint32_t partitions_ = 12;
  uint64_t offset_ = 0;
  int next_id_ = 0;
  int checks_ = 0;
};

TEST(GroupCoordinatorTest, SeededSimulationKeepsOneOwnerPerPartitionAndFencesEveryStaleCommit) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Simulation(seed).Run(600);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(GroupCoordinatorTest, ACorruptSnapshotIsRefused) {
  GroupCoordinator c;
  EXPECT_FALSE(c.Restore("\xff\xff\xff").ok());
  internal::CoordinatorState s;
  auto* g = s.add_groups();
  g->set_group("g");
  for (const char* id : {"a", "b"}) {
    auto* m = g->add_members();
    m->set_member_id(id);
    auto* o = m->add_owned();
    o->set_topic("t");
    o->add_partitions(0);
    m->add_owned_since(1);
  }
  auto status = c.Restore(s.SerializeAsString());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("owned by two members"), std::string::npos);
}

}  // namespace
}  // namespace brook::server
