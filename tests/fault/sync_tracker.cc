// LD_PRELOAD library for the power-failure fault: records what a process has made durable.
//
// brookd (through RocksDB) makes data durable only with fsync/fdatasync. This library wraps those calls and, after
// each one that succeeds on a regular file, appends "S <size>\t<path>" to the file named by $BROOK_SYNC_LOG: the
// file's size at that instant is durable. Renames and unlinks are logged too ("R <from>\t<to>", "U <path>") so
// that synced sizes follow the files. The log lives in the page cache, which survives SIGKILL; after killing the
// node, the harness (power.h) truncates every file of its data directory back to its last synced size, which is
// what a power failure may leave behind. A sync that had not returned when the process died is not logged, so
// its data is dropped: the process never learned it was durable.
//
// Only async-signal-safe calls are used, and no allocation: the wrappers run on RocksDB's threads.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

int log_fd = -1;
pthread_once_t once = PTHREAD_ONCE_INIT;

using SyncFn = int (*)(int);
using RenameFn = int (*)(const char*, const char*);
using UnlinkFn = int (*)(const char*);
SyncFn real_fsync = nullptr;
SyncFn real_fdatasync = nullptr;
RenameFn real_rename = nullptr;
UnlinkFn real_unlink = nullptr;

void Init() {
  real_fsync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fsync"));
  real_fdatasync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fdatasync"));
  real_rename = reinterpret_cast<RenameFn>(dlsym(RTLD_NEXT, "rename"));
  real_unlink = reinterpret_cast<UnlinkFn>(dlsym(RTLD_NEXT, "unlink"));
  const char* path = getenv("BROOK_SYNC_LOG");
  if (path != nullptr) log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void Record(const char* line, int len) {
  if (log_fd >= 0 && len > 0) (void)!write(log_fd, line, static_cast<size_t>(len));
}

void RecordSync(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char path[4096];
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return;
  path[n] = '\0';
  char line[4200];
  Record(line, snprintf(line, sizeof(line), "S %lld\t%s\n", static_cast<long long>(st.st_size), path));
}

// Paths passed to rename/unlink may be relative; RocksDB passes absolute ones, which is all the harness needs.
void RecordPaths(char op, const char* a, const char* b) {
  char line[8400];
  int len = b == nullptr ? snprintf(line, sizeof(line), "%c %s\n", op, a)
                         : snprintf(line, sizeof(line), "%c %s\t%s\n", op, a, b);
  Record(line, len);
}

}  // namespace

extern "C" {

int fsync(int fd) {
  pthread_once(&once, Init);
  int r = real_fsync(fd);
  if (r == 0) RecordSync(fd);
  return r;
}

int fdatasync(int fd) {
  pthread_once(&once, Init);
  int r = real_fdatasync(fd);
  if (r == 0) RecordSync(fd);
  return r;
}

int rename(const char* from, const char* to) {
  pthread_once(&once, Init);
  int r = real_rename(from, to);
  if (r == 0) RecordPaths('R', from, to);
  return r;
}

int unlink(const char* path) {
  pthread_once(&once, Init);
  int r = real_unlink(path);
  if (r == 0) RecordPaths('U', path, nullptr);
  return r;
}

}  // extern "C"
