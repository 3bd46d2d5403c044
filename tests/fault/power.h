// The power-failure fault: after a node has been SIGKILLed, drop from its data directory every byte it had not
// made durable, as the sync log written by sync_tracker.cc (LD_PRELOAD) records it.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"

namespace brook::testing {

struct PowerCut {
  int files_cut = 0;           // files that lost a tail
  uint64_t bytes_dropped = 0;  // bytes that were written but not synced, now gone
};

// Truncates every regular file under `data_dir` to the size it had at its last successful fsync/fdatasync (0 for
// a file never synced). With `torn`, a file may keep a random part of its unsynced tail instead, as when the disk
// wrote some pages of it before the power went: a torn write at the end of a log. The node must not be running.
absl::StatusOr<PowerCut> CutPower(const std::string& sync_log, const std::string& data_dir, bool torn,
                                  std::mt19937_64& rng);

}  // namespace brook::testing
