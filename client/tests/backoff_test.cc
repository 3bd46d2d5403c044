#include "client/lib/backoff.h"

#include "gtest/gtest.h"

namespace brook::client {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, BoundDoublesUpToTheCap) {
  BackoffOptions o{milliseconds(10), milliseconds(100), 2.0, 0.0};
  EXPECT_EQ(Backoff::Bound(o, 0), milliseconds(10));
  EXPECT_EQ(Backoff::Bound(o, 1), milliseconds(20));
  EXPECT_EQ(Backoff::Bound(o, 3), milliseconds(80));
  EXPECT_EQ(Backoff::Bound(o, 4), milliseconds(100));
  EXPECT_EQ(Backoff::Bound(o, 1000), milliseconds(100)) << "huge attempt counts must not overflow";
}

TEST(Backoff, WithoutJitterDelaysAreExact) {
  Backoff b({milliseconds(10), milliseconds(100), 2.0, 0.0}, 1);
  EXPECT_EQ(b.Next(), milliseconds(10));
  EXPECT_EQ(b.Next(), milliseconds(20));
  EXPECT_EQ(b.Next(), milliseconds(40));
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(10));
}

TEST(Backoff, JitteredDelaysStayWithinTheirWindow) {
  BackoffOptions o{milliseconds(100), milliseconds(1000), 2.0, 0.5};
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Backoff b(o, seed);
    for (int attempt = 0; attempt < 6; ++attempt) {
      const auto bound = Backoff::Bound(o, attempt);
      const auto d = b.Next();
      EXPECT_LE(d, bound) << "seed " << seed << " attempt " << attempt;
      EXPECT_GE(d.count(), bound.count() / 2 - 1) << "seed " << seed << " attempt " << attempt;
    }
  }
}

TEST(Backoff, JitterSpreadsClients) {
  BackoffOptions o{milliseconds(1000), milliseconds(1000), 2.0, 1.0};
  Backoff a(o, 1), b(o, 2);
  EXPECT_NE(a.Next(), b.Next()) << "two clients with different seeds should not retry in lockstep";
}

TEST(Backoff, ServerRetryDelayIsAFloor) {
  Backoff b({milliseconds(10), milliseconds(100), 2.0, 0.0}, 1);
  EXPECT_EQ(b.Next(milliseconds(250)), milliseconds(250));
  EXPECT_EQ(b.Next(milliseconds(5)), milliseconds(20));
}

}  // namespace
}  // namespace brook::client
