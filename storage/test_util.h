// Helpers shared by the storage tests, the crash-test child and nothing else.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace brook::storage::testing {

// A fresh directory on the real disk (under $BROOK_TEST_DIR, else /var/tmp, else /tmp: never a tmpfs on purpose,
// durability tests need a real fsync), removed with everything in it when the object dies.
class ScopedDir {
 public:
  explicit ScopedDir(std::string_view name);
  ~ScopedDir();
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `count` consecutive normal entries from `first_index`, `records` records each, offsets continuing from
// `base_offset`, with data "g<group>-i<index>" padded to `data_bytes`.
std::vector<raft::Entry> MakeEntries(raft::GroupId group, raft::Index first_index, raft::Term term, size_t count,
                                     raft::Offset base_offset, uint32_t records = 1, size_t data_bytes = 0);

}  // namespace brook::storage::testing
