#include "server/common/log.h"

#include <pthread.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace brook::server {

void WriteLogLine(LogLevel level, std::string_view line) {
  std::string out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  out.push_back(' ');
  out.push_back(static_cast<char>(level));
  out.push_back(' ');
  out.append(line);
  out.push_back('\n');
  ssize_t ignored = ::write(2, out.data(), out.size());
  (void)ignored;
}

void NameThisThread(const char* name) {
  char shortened[16] = {};
  std::string_view(name).copy(shortened, sizeof(shortened) - 1);
  pthread_setname_np(pthread_self(), shortened);
}

}  // namespace brook::server
