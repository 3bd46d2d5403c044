#include "storage/test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace brook::storage::testing {

ScopedDir::ScopedDir(std::string_view name) {
  std::string root;
  if (const char* env = getenv("BROOK_TEST_DIR"); env != nullptr && *env != '\0') {
    root = env;
  } else if (access("/var/tmp", W_OK) == 0) {
    root = "/var/tmp";
  } else {
    root = "/tmp";
  }
  std::string templ = absl::StrCat(root, "/brook-", std::string(name), "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    perror("mkdtemp");
    abort();
  }
  path_ = templ;
}

ScopedDir::~ScopedDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<raft::Entry> MakeEntries(raft::GroupId group, raft::Index first_index, raft::Term term, size_t count,
                                     raft::Offset base_offset, uint32_t records, size_t data_bytes) {
  std::vector<raft::Entry> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    raft::Entry e;
    e.index = first_index + i;
    e.term = term;
    e.type = raft::EntryType::kNormal;
    e.base_offset = base_offset;
    e.record_count = records;
    std::string data = absl::StrCat("g", group, "-i", e.index, "-t", term);
    if (data.size() < data_bytes) data.resize(data_bytes, static_cast<char>('a' + e.index % 26));
    e.data = std::move(data);
    base_offset += records;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace brook::storage::testing
