// preload/hooks/real_functions.h: the libc functions allocwatch wraps, resolved once.
//
// Hook-safe after Resolve() has returned. Thread-safe: the first caller resolves, other threads
// wait; calls made by dlsym itself while resolving are served by the bootstrap pool.
#pragma once
#include "preload/base/hook_safe.h"

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <type_traits>

#include "preload/format/hooked_symbols.h"

namespace allocwatch::preload {

// One pointer per name of ALLOCWATCH_RESOLVED_SYMBOLS (preload/format/hooked_symbols.h).
struct RealFunctions {
#define ALLOCWATCH_REAL_FUNCTION_FIELD(name, member, need, ...) \
  std::type_identity_t<__VA_ARGS__> member = nullptr;
  ALLOCWATCH_RESOLVED_SYMBOLS(ALLOCWATCH_REAL_FUNCTION_FIELD)
#undef ALLOCWATCH_REAL_FUNCTION_FIELD
  // glibc's own allocator (__libc_malloc, __libc_free), found after liballocwatch.so in symbol
  // order: the C library's, even in a program that defines these names itself (Chromium's
  // allocator shim routes them to PartitionAlloc). Null when the C library has none.
  void* (*libc_malloc)(size_t) = nullptr;
  void (*libc_free)(void*) = nullptr;
};

// True while the calling thread is inside Resolve() (its allocations go to the bootstrap pool).
bool ResolvingOnThisThread();

extern ALLOCWATCH_HIDDEN RealFunctions g_real_functions;
extern ALLOCWATCH_HIDDEN std::atomic<int>
    g_real_functions_state;  // 0 unresolved, 1 resolving, 2 ready
const RealFunctions& ResolveRealFunctions();

// True once every pointer is set. Never blocks.
ALLOCWATCH_ALWAYS_INLINE bool RealFunctionsReady() {
  return g_real_functions_state.load(std::memory_order_acquire) == 2;
}

// Resolves every function on first use; afterwards a plain load.
ALLOCWATCH_ALWAYS_INLINE const RealFunctions& Real() {
  if (ALLOCWATCH_LIKELY(g_real_functions_state.load(std::memory_order_acquire) == 2)) {
    return g_real_functions;
  }
  return ResolveRealFunctions();
}

}  // namespace allocwatch::preload
