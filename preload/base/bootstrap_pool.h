// preload/base/bootstrap_pool.h: a static bump allocator for the calls made while the real
// allocator is still being resolved (dlsym itself calls calloc).
//
// Hook-safe. Thread-safe (atomic bump). Memory is never reused; free() recognises these
// pointers through Contains() and ignores them.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <cstdint>

namespace allocwatch::preload {

inline constexpr size_t kBootstrapPoolSize = 256 * 1024;
extern ALLOCWATCH_HIDDEN unsigned char g_bootstrap_pool[kBootstrapPoolSize];

// Returns zeroed memory aligned to `alignment` (a power of two up to 4096), or nullptr when the
// pool is exhausted.
void* BootstrapAllocate(size_t size, size_t alignment = 16);
ALLOCWATCH_ALWAYS_INLINE bool BootstrapContains(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_bootstrap_pool) <
         kBootstrapPoolSize;
}
// Usable size of a pool allocation (its requested size).
size_t BootstrapSize(const void* p);

}  // namespace allocwatch::preload
