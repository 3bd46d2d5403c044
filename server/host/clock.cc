#include "server/host/clock.h"

#include "absl/time/clock.h"

namespace brook::server {

SystemClock* SystemClock::Get() {
  static SystemClock clock;
  return &clock;
}

int64_t SystemClock::UnixMillis() const { return absl::ToUnixMillis(absl::Now()); }

}  // namespace brook::server
