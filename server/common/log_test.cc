#include "server/common/log.h"

#include <pthread.h>

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace brook::server {
namespace {

std::string NameOf(std::thread& t) {
  char name[32] = {};
  EXPECT_EQ(pthread_getname_np(t.native_handle(), name, sizeof(name)), 0);
  return name;
}

// The name a new thread has after calling NameThisThread(name).
std::string NameSeenBy(const char* name) {
  std::string seen;
  std::thread t([&] {
    NameThisThread(name);
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    seen = buf;
  });
  t.join();
  return seen;
}

TEST(NameThisThread, NamesTheCallingThreadAndKeepsFifteenCharacters) {
  EXPECT_EQ(NameSeenBy("brook-loop"), "brook-loop");
  // Linux refuses names over 15 characters; the name is shortened instead of left unset.
  EXPECT_EQ(NameSeenBy("brook-peer-18446744073709551615"), "brook-peer-1844");
}

TEST(NameThisThread, LeavesOtherThreadsAlone) {
  std::thread named([] { NameThisThread("brook-exec"); });
  named.join();
  std::atomic<bool> go{false};
  std::thread other([&] {
    while (!go.load()) std::this_thread::yield();
  });
  std::string before = NameOf(other);
  EXPECT_NE(before, "brook-exec");
  go.store(true);
  other.join();
}

}  // namespace
}  // namespace brook::server
