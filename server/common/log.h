// brookd's log lines: one line per event on stderr, stable shape for people and scripts:
//   2026-11-25T23:59:01.123Z I n2 g7 term=5 became leader
// Abseil's logging library is newer than Debian 12's Abseil, hence this small one. Thread-safe (one write(2)
// per line).
#pragma once

#include <string_view>

#include "absl/strings/str_cat.h"

namespace brook::server {

enum class LogLevel : char { kInfo = 'I', kWarning = 'W', kError = 'E' };

void WriteLogLine(LogLevel level, std::string_view line);

template <typename... Args>
void LogInfo(const Args&... args) {
  WriteLogLine(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  WriteLogLine(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  WriteLogLine(LogLevel::kError, absl::StrCat(args...));
}

// Names the calling thread (at most 15 characters are kept), so `top -H` and `perf` tell brookd's threads apart.
void NameThisThread(const char* name);

}  // namespace brook::server
