#include "storage/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace brook::storage {
namespace {

TEST(Crc32c, KnownAnswers) {
  // RFC 3720 (iSCSI) appendix B.4 and the usual check value.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c("a"), 0xC1D04330u);
}

TEST(Crc32c, PortableMatchesHardwareOnEveryLengthAndAlignment) {
  std::mt19937_64 rng(7);
  std::string buf(4096 + 16, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1000, 4096}) {
      std::string_view s(buf.data() + offset, len);
      EXPECT_EQ(Crc32c(s), internal::Crc32cExtendPortable(0, s)) << "offset " << offset << " len " << len;
    }
  }
}

TEST(Crc32c, ExtendEqualsWholeForEverySplit) {
  const std::string s = "The Raft log is the commit log.";
  const uint32_t whole = Crc32c(s);
  for (size_t i = 0; i <= s.size(); ++i) {
    EXPECT_EQ(Crc32cExtend(Crc32c(s.substr(0, i)), s.substr(i)), whole) << "split at " << i;
  }
}

TEST(Crc32c, SingleBitFlipChangesTheChecksum) {
  std::string s(1024, 'x');
  const uint32_t base = Crc32c(s);
  for (size_t i = 0; i < s.size(); i += 37) {
    std::string t = s;
    t[i] ^= 0x10;
    EXPECT_NE(Crc32c(t), base) << "flip at byte " << i;
  }
}

}  // namespace
}  // namespace brook::storage
