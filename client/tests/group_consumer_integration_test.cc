// The C++ group consumer, group administration and `brook consume --group` / `brook group ...` against a live
// 3-node cluster (docs/api.md "Consumer groups").
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/lib/errors.h"
#include "client/lib/group_admin.h"
#include "client/lib/group_consumer.h"
#include "client/lib/producer.h"
#include "client/tests/live_cluster.h"
#include "client/tests/subprocess.h"
#include "tests/integration/prometheus_server.h"

namespace brook::client::testing {
namespace {

using namespace std::chrono_literals;
using Seen = std::map<std::pair<uint32_t, uint64_t>, int>;  // (partition, offset) -> times read

class GroupConsumerTest : public LiveCluster {
 protected:
  void Produce(const std::string& topic, int count, const std::string& prefix) {
    auto producer = Producer::Create(connection_);
    ASSERT_TRUE(producer.ok());
    std::vector<std::future<absl::StatusOr<RecordMetadata>>> acks;
    for (int i = 0; i < count; ++i) {
      v1::Record r;
      r.set_key(absl::StrCat(prefix, i));
      r.set_value(absl::StrCat(prefix, "-value-", i));
      acks.push_back((*producer)->Send(topic, std::move(r)));
    }
    (*producer)->Flush();
    for (auto& a : acks) ASSERT_TRUE(a.get().ok());
  }

  std::unique_ptr<GroupConsumer> Member(const std::string& group, const std::string& topic,
                                        std::string instance = "") {
    GroupConsumerOptions o;
    o.group = group;
    o.topics = {topic};
    o.instance_id = std::move(instance);
    o.session_timeout = 3s;
    o.auto_commit_interval = 200ms;
    auto c = GroupConsumer::Create(connection_, o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Polls every member in turn until `total` distinct records were read or `timeout` passes.
  static void ReadAll(const std::vector<GroupConsumer*>& members, size_t total, Seen& seen,
                      std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && seen.size() < total) {
      for (GroupConsumer* m : members) {
        auto r = m->Poll(100ms);
        ASSERT_TRUE(r.ok()) << r.status();
        for (const auto& rec : r->records) ++seen[{rec.partition, rec.record.offset()}];
      }
    }
  }

  ProcessResult Brook(std::vector<std::string> args) {
    std::vector<std::string> argv = {BROOK_CLI_PATH, "--bootstrap=" + cluster_->bootstrap(), "--timeout-ms=20000"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = RunProcess(argv, "", 60s);
    last_ = absl::StrCat("brook ", absl::StrJoin(args, " "), "\nexit ", r.exit_code, "\nstdout:\n", r.out,
                         "\nstderr:\n", r.err);
    return r;
  }
  std::string last_;
};

// Two members split six partitions, read every record exactly once (no crash, commits after processing), and a
// member that joins later resumes from the committed offsets: it reads only what came after.
TEST_F(GroupConsumerTest, MembersSplitTheTopicReadEachRecordOnceAndTheGroupResumes) {
  CreateTopic("orders", 6);
  Produce("orders", 600, "a");
  auto one = Member("billing", "orders");
  auto two = Member("billing", "orders");
  Seen seen;
  ReadAll({one.get(), two.get()}, 600, seen, 60s);
  ASSERT_EQ(seen.size(), 600u);
  for (const auto& [at, times] : seen) EXPECT_EQ(times, 1) << "partition " << at.first << " offset " << at.second;
  // Both members own some partitions, and together all six, once each.
  ASSERT_TRUE(WaitFor(
      [&] {
        (void)one->Poll(50ms);
        (void)two->Poll(50ms);
        return one->Assignment().size() == 3 && two->Assignment().size() == 3;
      },
      30s));
  std::set<GroupPartition> all;
  for (auto* m : {one.get(), two.get()}) {
    for (const auto& tp : m->Assignment()) EXPECT_TRUE(all.insert(tp).second) << tp.partition << " owned twice";
  }
  EXPECT_EQ(all.size(), 6u);
  // The coordinator's node reports the group: its members, and the rebalances it timed.
  ASSERT_TRUE(WaitFor(
      [&] {
        bool members = false, rebalances = false;
        for (const auto& n : cluster_->nodes()) {
          auto r = brook::testing::HttpGet(n.metrics_address, "/metrics", 2s);
          if (!r.ok()) continue;
          members |= r->body.find("brook_consumer_group_members{group=\"billing\"} 2") != std::string::npos;
          rebalances |= r->body.find("brook_consumer_group_rebalance_seconds_count 0") == std::string::npos &&
                        r->body.find("brook_consumer_group_rebalance_seconds_count") != std::string::npos &&
                        r->body.find("brook_coordinator_groups 1") != std::string::npos;
        }
        return members && rebalances;
      },
      10s))
      << "no node reports the group's members and timed rebalances";
  ASSERT_TRUE(one->Close().ok());
  ASSERT_TRUE(two->Close().ok());

  GroupAdmin admin(connection_);
  auto described = admin.DescribeGroup("billing");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->group.state(), v1::DescribeGroupResponse::EMPTY);
  EXPECT_EQ(described->total_lag, 0u);
  EXPECT_EQ(described->partitions.size(), 6u);

  Produce("orders", 60, "b");
  auto late = Member("billing", "orders");
  Seen after;
  ReadAll({late.get()}, 60, after, 60s);
  EXPECT_EQ(after.size(), 60u) << "the new member resumes where the group committed";
  for (const auto& [at, times] : after) EXPECT_EQ(times, 1);
  ASSERT_TRUE(late->Close().ok());
  described = admin.DescribeGroup("billing");
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->total_lag, 0u);
}

// Fencing: a commit for a partition the member no longer owns, from a member of another group, or with an epoch
// past the member's, is refused with a GroupError and changes nothing.
TEST_F(GroupConsumerTest, AStaleMembersCommitIsRefusedAndChangesNothing) {
  CreateTopic("fenced", 2);
  Produce("fenced", 20, "f");
  auto first = Member("fencing", "fenced");
  ASSERT_TRUE(WaitFor([&] { return first->Poll(50ms).ok() && first->Assignment().size() == 2; }, 30s));
  const std::string stale_id = first->member_id();
  const uint32_t stale_epoch = first->member_epoch();
  ASSERT_TRUE(first->CommitOffsets({{{"fenced", 0}, 5}, {{"fenced", 1}, 5}}).ok());
  auto second = Member("fencing", "fenced");
  ASSERT_TRUE(WaitFor(
      [&] {
        (void)first->Poll(50ms);
        (void)second->Poll(50ms);
        return first->Assignment().size() == 1 && second->Assignment().size() == 1;
      },
      30s));
  const GroupPartition moved = second->Assignment()[0];
  ASSERT_TRUE(second->CommitOffsets({{moved, 7}}).ok());

  auto commit = [&](const std::string& group, const std::string& member, uint32_t epoch, uint64_t offset) {
    v1::CommitOffsetsRequest req;
    req.set_group(group);
    req.set_topic("fenced");
    req.set_member_id(member);
    req.set_member_epoch(epoch);
    auto* o = req.add_offsets();
    o->set_partition(moved.partition);
    o->set_offset(offset);
    v1::CommitOffsetsResponse resp;
    return connection_->Call(
        Route::Coordinator(group), connection_->DefaultDeadline(), true,
        [&](grpc::ClientContext* ctx, NodeStubs* node) { return node->groups->CommitOffsets(ctx, req, &resp); });
  };
  // The old owner, with the epoch it had when it owned the partition.
  absl::Status s = commit("fencing", stale_id, stale_epoch, 1);
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ErrorInfo e = DecodeError(s);
  ASSERT_TRUE(e.group_error.has_value()) << s;
  EXPECT_TRUE(e.group_error->reason() == v1::GroupError::NOT_OWNER ||
              e.group_error->reason() == v1::GroupError::STALE_MEMBER_EPOCH)
      << v1::GroupError::Reason_Name(e.group_error->reason());
  EXPECT_EQ(e.write_outcome, v1::WriteOutcome::NOT_WRITTEN);
  // A member of this group committing for another group.
  s = commit("other-group", second->member_id(), second->member_epoch(), 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  ASSERT_TRUE(DecodeError(s).group_error.has_value());
  EXPECT_EQ(DecodeError(s).group_error->reason(), v1::GroupError::UNKNOWN_MEMBER);
  // The owner itself, with an epoch it never had.
  s = commit("fencing", second->member_id(), second->member_epoch() + 5, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;

  GroupAdmin admin(connection_);
  v1::DescribeGroupRequest req;
  req.set_group("fencing");
  auto d = admin.Describe(req);
  ASSERT_TRUE(d.ok()) << d.status();
  bool found = false;
  for (const auto& o : d->offsets()) {
    if (o.topic() == "fenced" && o.partition() == moved.partition) {
      found = true;
      EXPECT_EQ(o.offset(), 7u) << "a refused commit changed the offset";
    }
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(first->Close().ok());
  ASSERT_TRUE(second->Close().ok());
}

// The admin calls and the CLI: list, describe with lag, delete and reset refused while the group has members,
// every reset kind, delete, and `brook consume --group` resuming from the group's offsets.
TEST_F(GroupConsumerTest, GroupsAreListedDescribedResetAndDeletedFromTheCli) {
  CreateTopic("events", 3);
  Produce("events", 30, "e");
  // --max-records stops after 10 and commits only what it printed: the next run prints the other 20.
  ProcessResult r = Brook({"consume", "events", "--group=audit", "--output=json", "--max-records=10"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 10) << last_;
  r = Brook({"consume", "events", "--group=audit", "--output=json"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 20) << last_;
  r = Brook({"consume", "events", "--group=audit", "--output=json", "--timeout-ms=3000"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 0) << "the group resumes at its offsets: " << last_;

  r = Brook({"group", "list", "--output=json"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_NE(r.out.find("\"group\":\"audit\""), std::string::npos) << last_;
  EXPECT_NE(r.out.find("\"state\":\"EMPTY\""), std::string::npos) << last_;
  Produce("events", 9, "more");
  r = Brook({"group", "describe", "audit", "--output=json"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_NE(r.out.find("\"total_lag\":9"), std::string::npos) << last_;

  // While a member holds the group, reset and delete are refused.
  auto member = Member("audit", "events");
  ASSERT_TRUE(WaitFor([&] { return member->Poll(50ms).ok() && !member->Assignment().empty(); }, 30s));
  r = Brook({"group", "reset-offsets", "audit", "events", "--to-earliest"});
  EXPECT_EQ(r.exit_code, 1) << last_;
  EXPECT_NE(r.err.find("members"), std::string::npos) << last_;
  r = Brook({"group", "delete", "audit"});
  EXPECT_EQ(r.exit_code, 1) << last_;
  r = Brook({"group", "describe", "audit"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_NE(r.out.find(member->member_id()), std::string::npos) << last_;
  ASSERT_TRUE(member->Close().ok());

  r = Brook({"group", "reset-offsets", "audit", "events", "--to-earliest", "--output=json"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  GroupAdmin admin(connection_);
  auto d = admin.DescribeGroup("audit");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->total_lag, 39u) << "every record is unread again";
  r = Brook({"group", "reset-offsets", "audit", "events", "--shift-by=2", "--partition=0"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  r = Brook({"group", "reset-offsets", "audit", "events", "--to-latest", "--dry-run", "--output=json"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  EXPECT_NE(r.out.find("\"dry_run\":true"), std::string::npos);
  d = admin.DescribeGroup("audit");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->total_lag, 37u) << "shifted partition 0 by two; the dry run stored nothing";
  r = Brook({"group", "reset-offsets", "audit", "events", "--to-timestamp=0"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  r = Brook({"group", "reset-offsets", "audit", "events"});
  EXPECT_EQ(r.exit_code, 2) << last_;

  r = Brook({"group", "delete", "audit"});
  ASSERT_EQ(r.exit_code, 0) << last_;
  r = Brook({"group", "describe", "audit"});
  EXPECT_EQ(r.exit_code, 3) << last_;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << last_;
  r = Brook({"consume", "events", "--group=audit", "--partition=1"});
  EXPECT_EQ(r.exit_code, 2) << last_;
}

}  // namespace
}  // namespace brook::client::testing
