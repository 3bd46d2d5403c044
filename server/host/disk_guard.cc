#include "server/host/disk_guard.h"

#include <sys/statvfs.h>

#include "absl/strings/str_cat.h"
#include "brook/v1/errors.pb.h"
#include "server/common/log.h"

namespace brook::server {

DiskGuard::DiskGuard(uint64_t reserve_bytes, std::function<uint64_t()> free_bytes)
    : reserve_(reserve_bytes), measure_(std::move(free_bytes)) {}

uint64_t DiskGuard::FreeBytesOf(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

void DiskGuard::Refresh(Clock::TimePoint now) {
  if (!measure_ || now < next_) return;
  next_ = now + std::chrono::seconds(1);
  const uint64_t free = measure_();
  free_.store(free, std::memory_order_relaxed);
  const bool low = free < reserve_;
  if (low != was_low_) {
    if (low) {
      LogWarning("disk nearly full: ", free >> 20, " MiB free, under the reserve of ", reserve_ >> 20,
                 " MiB; refusing writes, serving reads");
    } else {
      LogInfo("disk space is back: ", free >> 20, " MiB free; taking writes again");
    }
    was_low_ = low;
  }
}

grpc::Status DiskGuard::CheckWrite(uint64_t node_id) const {
  const uint64_t free = free_.load(std::memory_order_relaxed);
  if (free >= reserve_) return grpc::Status::OK;
  const std::string message = absl::StrCat(
      "node ", node_id, "'s disk is nearly full: ", free >> 20, " MiB free, under the reserve of ", reserve_ >> 20,
      " MiB (--disk_reserve_mb); nothing was written; writes resume when space returns");
  v1::ErrorStatus details;
  details.set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
  details.set_message(message);
  v1::RetryInfo retry;
  retry.set_retry_delay_ms(1000);
  details.add_details()->PackFrom(retry);
  v1::ResourceInfo info;
  info.set_limit("disk_reserve_bytes");
  info.set_value(reserve_);
  details.add_details()->PackFrom(info);
  v1::WriteOutcome outcome;
  outcome.set_outcome(v1::WriteOutcome::NOT_WRITTEN);
  details.add_details()->PackFrom(outcome);
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message, details.SerializeAsString());
}

}  // namespace brook::server
