// StateDelta: what a turn persists, written by storage as deletes then puts, must say the last word on each key.
#include "server/machines/state_machine.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace brook::server {
namespace {

// As storage/store.cc writes a delta: deletes, then puts.
std::map<std::string, std::string> Written(std::map<std::string, std::string> stored, const StateDelta& d) {
  for (const auto& k : d.deletes) stored.erase(k);
  for (const auto& [k, v] : d.puts) stored[k] = v;
  return stored;
}

TEST(StateDelta, ADeleteAfterAPutOfTheSameKeyWins) {
  StateDelta d;
  d.Put("p/1", "a");
  d.Put("p/2", "b");
  d.Put("p/1", "c");
  d.Delete("p/1");
  EXPECT_EQ(Written({{"p/1", "old"}}, d), (std::map<std::string, std::string>{{"p/2", "b"}}));
}

TEST(StateDelta, APutAfterADeleteOfTheSameKeyWins) {
  StateDelta d;
  d.Delete("p/1");
  d.Put("p/1", "new");
  EXPECT_EQ(Written({{"p/1", "old"}}, d), (std::map<std::string, std::string>{{"p/1", "new"}}));
  d.Delete("p/1");
  EXPECT_TRUE(Written({{"p/1", "old"}}, d).empty());
}

}  // namespace
}  // namespace brook::server
