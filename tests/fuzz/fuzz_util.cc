#include "tests/fuzz/fuzz_util.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <sanitizer/allocator_interface.h>
#include <sanitizer/common_interface_defs.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "google/protobuf/stubs/logging.h"

namespace brook::fuzz {
namespace {

// libprotobuf logs every proto3 string that is not UTF-8 when it refuses to parse it: noise by the million here.
const bool kQuietProtobuf = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

bool g_active = false;
size_t g_limit = 0;
size_t g_input_size = 0;

// libprotobuf's parser reserves up to its kSafeStringSize (50 MB) for a string whose claimed length fits the
// claimed length of its enclosing message, before it knows the bytes are there. That is the library's policy, not
// the project's code: allocations with libprotobuf on their stack are not held to the bound.
bool FromLibprotobuf() {
  void* frames[64];
  const int n = backtrace(frames, 64);
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "libprotobuf")) {
      return true;
    }
  }
  return false;
}

void OnMalloc(const volatile void*, size_t size) {
  if (!g_active || size <= g_limit) return;
  g_active = false;
  if (FromLibprotobuf()) {
    g_active = true;
    return;
  }
  std::fprintf(stderr,
               "fuzz property violated: one allocation of %zu bytes for an input of %zu bytes (limit %zu)\n", size,
               g_input_size, g_limit);
  __sanitizer_print_stack_trace();
  std::abort();
}

void OnFree(const volatile void*) {}

bool InstallHooks() {
  FromLibprotobuf();  // the first backtrace() loads libgcc_s: not inside a hook
  __sanitizer_install_malloc_and_free_hooks(OnMalloc, OnFree);
  return true;
}

}  // namespace

void Fail(std::string_view what) {
  g_active = false;
  std::fprintf(stderr, "fuzz property violated: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

AllocationBound::AllocationBound(size_t input_size, size_t base_bytes, size_t factor) {
  static const bool installed = InstallHooks();
  (void)installed;
  g_input_size = input_size;
  g_limit = base_bytes + factor * input_size;
  g_active = true;
}

AllocationBound::~AllocationBound() { g_active = false; }

AllocationBoundPause::AllocationBoundPause() : was_active_(g_active) { g_active = false; }

AllocationBoundPause::~AllocationBoundPause() { g_active = was_active_; }

}  // namespace brook::fuzz
