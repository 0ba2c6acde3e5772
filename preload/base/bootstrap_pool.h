// preload/base/bootstrap_pool.h: a static bump allocator for the calls made while the real
// allocator is still being resolved (dlsym itself calls calloc).
//
// Hook-safe. Thread-safe (atomic bump). Memory is never reused; free() recognises these
// pointers through Contains() and ignores them.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>

namespace allocwatch::preload {

// Returns zeroed memory aligned to `alignment` (a power of two up to 4096), or nullptr when the
// pool is exhausted.
void* BootstrapAllocate(size_t size, size_t alignment = 16);
bool BootstrapContains(const void* p);
// Usable size of a pool allocation (its requested size).
size_t BootstrapSize(const void* p);

}  // namespace allocwatch::preload
