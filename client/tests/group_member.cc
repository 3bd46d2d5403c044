// A consumer-group member process for the group proof test (group_proof_integration_test.cc): it reads with the
// C++ GroupConsumer (auto-commit: what a Poll returned is processed, and committed by a later Poll) and appends
// one line per processed record and per assignment change to --out, written straight to the file so that a
// kill -9 loses nothing it printed:
//   R <wall ms> <partition> <offset>     a record processed
//   A|V|L <wall ms> <p,p,...>           partitions assigned, revoked (given up after a commit), lost (no commit)
//   C <wall ms>                          closed after SIGTERM (committed and left the group)
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/lib/group_consumer.h"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnTerm(int) { g_stop.store(true); }
int g_fd = -1;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Line(const std::string& s) {
  const std::string line = s + "\n";
  (void)!write(g_fd, line.data(), line.size());
}

void Event(const char* kind, const std::vector<brook::client::GroupPartition>& ps) {
  std::vector<uint32_t> ids;
  for (const auto& tp : ps) ids.push_back(tp.partition);
  Line(absl::StrCat(kind, " ", WallMs(), " ", absl::StrJoin(ids, ",")));
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback = "") {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::string(argv[i]).substr(prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out = Flag(argc, argv, "out");
  g_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (g_fd < 0) {
    std::fprintf(stderr, "group_member: cannot open --out=%s\n", out.c_str());
    return 2;
  }
  std::signal(SIGTERM, OnTerm);
  brook::client::ClientOptions client;
  client.bootstrap = brook::client::ParseBootstrap(Flag(argc, argv, "bootstrap"));
  client.request_timeout = std::chrono::milliseconds(2000);
  auto connection = brook::client::Connection::Create(client);
  if (!connection.ok()) return 2;
  brook::client::GroupConsumerOptions o;
  o.group = Flag(argc, argv, "group");
  o.topics = {Flag(argc, argv, "topic")};
  o.session_timeout = std::chrono::milliseconds(std::stoi(Flag(argc, argv, "session_ms", "3000")));
  o.auto_commit_interval = std::chrono::milliseconds(200);
  o.on_assigned = [](const auto& ps) { Event("A", ps); };
  o.on_revoked = [](const auto& ps) { Event("V", ps); };
  o.on_lost = [](const auto& ps) { Event("L", ps); };
  auto consumer = brook::client::GroupConsumer::Create(*connection, o);
  if (!consumer.ok()) return 2;
  while (!g_stop.load()) {
    auto r = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!r.ok()) {
      std::fprintf(stderr, "group_member: %s\n", r.status().ToString().c_str());
      continue;  // transient trouble (a node down): keep going, as a service would
    }
    for (const auto& rec : r->records)
      Line(absl::StrCat("R ", WallMs(), " ", rec.partition, " ", rec.record.offset()));
  }
  const auto closed = (*consumer)->Close();
  Line(absl::StrCat("C ", WallMs()));
  return closed.ok() ? 0 : 1;
}
