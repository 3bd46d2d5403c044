#include "client/lib/partitioner.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace brook::client {
namespace {

// Known answers of FNV-1a 32-bit (the published test vectors of the FNV reference, fnv_test.c).
TEST(Fnv1a32, MatchesReferenceVectors) {
  EXPECT_EQ(Fnv1a32(""), 0x811c9dc5u);
  EXPECT_EQ(Fnv1a32("a"), 0xe40c292cu);
  EXPECT_EQ(Fnv1a32("b"), 0xe70c2de5u);
  EXPECT_EQ(Fnv1a32("foobar"), 0xbf9cf968u);
  EXPECT_EQ(Fnv1a32("chongo was here!\n"), 0xd49930d5u);
}

TEST(Fnv1a32, HashesBytesAboveAsciiAsUnsigned) {
  // 0xff must be xor-ed as 255, not as a sign-extended char.
  EXPECT_EQ(Fnv1a32(std::string("\xff", 1)), (0x811c9dc5u ^ 0xffu) * 16777619u);
}

TEST(Partitioner, KeyedRecordGoesToHashModuloCount) {
  Partitioner p;
  EXPECT_EQ(p.Partition("foobar", 7), 0xbf9cf968u % 7);
  EXPECT_EQ(p.Partition("foobar", 7), p.Partition("foobar", 7)) << "a key must always map to one partition";
  EXPECT_EQ(PartitionForKey("user-42", 1), 0u);
}

TEST(Partitioner, KeylessRecordsGoRoundRobin) {
  Partitioner p;
  std::set<uint32_t> seen;
  for (int i = 0; i < 6; ++i) seen.insert(p.Partition("", 3));
  EXPECT_EQ(seen.size(), 3u) << "six keyless records over three partitions must touch every partition";
  const uint32_t a = p.Partition("", 3), b = p.Partition("", 3);
  EXPECT_EQ((a + 1) % 3, b);
}

}  // namespace
}  // namespace brook::client
