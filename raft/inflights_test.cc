#include "raft/inflights.h"

#include "gtest/gtest.h"
#include "raft/progress.h"

namespace brook::raft {
namespace {

TEST(Inflights, FullByCountThenFreedByAck) {
  Inflights in(3, 0);
  in.Add(1, 10);
  in.Add(2, 10);
  EXPECT_FALSE(in.Full());
  in.Add(5, 10);
  EXPECT_TRUE(in.Full());
  in.FreeLE(2);
  EXPECT_FALSE(in.Full());
  EXPECT_EQ(in.count(), 1u);
  EXPECT_EQ(in.bytes(), 10u);
}

TEST(Inflights, FullByBytesButOneLargeAppendAlwaysFits) {
  Inflights in(100, 100);
  in.Add(1, 1000);  // Larger than the bound, admitted into an empty window.
  EXPECT_TRUE(in.Full());
  in.FreeFirstOne();
  EXPECT_FALSE(in.Full());
  EXPECT_EQ(in.bytes(), 0u);
}

TEST(Progress, ProbeSendsOneAppendPerRoundAndBacksOffWithHint) {
  Progress pr(/*next=*/11, 10, 0, false);
  EXPECT_FALSE(pr.IsPaused());
  pr.SentEntries(12, 5, true);
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_FALSE(pr.MaybeDecrTo(/*rejected=*/3, 1)) << "stale rejection must be ignored";
  EXPECT_TRUE(pr.MaybeDecrTo(/*rejected=*/10, /*hint=*/4));
  EXPECT_EQ(pr.next, 5u);
  EXPECT_FALSE(pr.IsPaused());
}

TEST(Progress, ReplicateIsOptimisticAndFallsBackToMatch) {
  Progress pr(5, 2, 0, false);
  pr.MaybeUpdate(4);
  pr.BecomeReplicate();
  pr.SentEntries(8, 1, true);
  EXPECT_EQ(pr.next, 9u);
  pr.SentEntries(9, 1, true);
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_FALSE(pr.MaybeDecrTo(4, 0)) << "rejection at or below match is stale";
  EXPECT_TRUE(pr.MaybeDecrTo(8, 0));
  EXPECT_EQ(pr.next, 5u);
}

}  // namespace
}  // namespace brook::raft
