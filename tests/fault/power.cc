#include "tests/fault/power.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace brook::testing {

absl::StatusOr<PowerCut> CutPower(const std::string& sync_log, const std::string& data_dir, bool torn,
                                  std::mt19937_64& rng) {
  namespace fs = std::filesystem;
  // Replay the log: path -> size known durable.
  std::map<std::string, uint64_t> durable;
  std::ifstream in(sync_log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 3 || line[1] != ' ') continue;  // a line cut short by the kill: its call never returned
    const std::string rest = line.substr(2);
    const auto tab = rest.find('\t');
    switch (line[0]) {
      case 'S': {
        uint64_t size = 0;
        if (tab == std::string::npos || !absl::SimpleAtoi(rest.substr(0, tab), &size)) continue;
        durable[rest.substr(tab + 1)] = size;
        break;
      }
      case 'R': {
        if (tab == std::string::npos) continue;
        const std::string from = fs::path(rest.substr(0, tab)).lexically_normal().string();
        const std::string to = fs::path(rest.substr(tab + 1)).lexically_normal().string();
        auto it = durable.find(from);
        if (it != durable.end()) {
          durable[to] = it->second;
          durable.erase(from);
        } else {
          durable.erase(to);
        }
        break;
      }
      case 'U':
        durable.erase(fs::path(rest).lexically_normal().string());
        break;
      default:
        break;
    }
  }
  PowerCut cut;
  std::error_code ec;
  const fs::path root = fs::canonical(data_dir, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("data directory '", data_dir, "': ", ec.message()));
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string path = it->path().string();
    const uint64_t size = it->file_size();
    auto d = durable.find(path);
    const uint64_t keep = d == durable.end() ? 0 : d->second;
    if (size <= keep) continue;
    uint64_t new_size = keep;
    if (torn && rng() % 2 == 0) new_size = keep + rng() % (size - keep + 1);
    if (new_size == size) continue;
    fs::resize_file(it->path(), new_size, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot truncate '", path, "': ", ec.message()));
    cut.files_cut++;
    cut.bytes_dropped += size - new_size;
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list '", data_dir, "': ", ec.message()));
  return cut;
}

}  // namespace brook::testing
