// preload/interpose/malloc_interpose.cc: the exported heap functions.
//
// Hook-safe. Until the real functions are resolved, calls made by dlsym itself are served from
// the bootstrap pool; free() and realloc() recognise those blocks.
#include <malloc.h>
#include <stdlib.h>

#include <cstring>

#include "preload/base/bootstrap_pool.h"
#include "preload/hooks/allocation_hooks.h"
#include "preload/interpose/symbols.h"

using namespace allocwatch::preload;  // NOLINT: one-line wrappers

namespace {
// True when the caller is dlsym resolving the real functions (use the bootstrap pool).
ALLOCWATCH_ALWAYS_INLINE bool Bootstrapping() {
  return ALLOCWATCH_UNLIKELY(!RealFunctionsReady()) && ResolvingOnThisThread();
}
}  // namespace

// malloc and free call through g_real_functions without checking that it is resolved: until it
// is, its malloc and free entries resolve first (real_functions.cc).
ALLOCWATCH_EXPORT void* malloc(size_t size) { return HookMalloc(g_real_functions, size); }

ALLOCWATCH_EXPORT void* calloc(size_t n, size_t size) {
  if (Bootstrapping()) {
    size_t total;
    return __builtin_mul_overflow(n, size, &total) ? nullptr : BootstrapAllocate(total);
  }
  return HookCalloc(Real(), n, size);
}

ALLOCWATCH_EXPORT void free(void* p) {
  if (ALLOCWATCH_UNLIKELY(BootstrapContains(p))) return;
  HookFree(g_real_functions, p);
}

namespace {
// realloc for the program's call `site` (realloc itself, or reallocarray without a real one).
ALLOCWATCH_ALWAYS_INLINE void* Realloc(CallSite site, void* old, size_t size) {
  if (Bootstrapping()) return nullptr;
  if (ALLOCWATCH_UNLIKELY(BootstrapContains(old))) {
    void* p = malloc(size);
    if (p != nullptr) std::memcpy(p, old, std::min(size, BootstrapSize(old)));
    return p;
  }
  const RealFunctions& real = Real();
  return HookRealloc(Call::kRealloc, site, old, size, size, 0,
                     [&] { return real.realloc(old, size); });
}
}  // namespace

ALLOCWATCH_EXPORT void* realloc(void* old, size_t size) {
  return Realloc(ALLOCWATCH_CALL_SITE(), old, size);
}

ALLOCWATCH_EXPORT void* reallocarray(void* old, size_t n, size_t size) {
  const RealFunctions& real = Real();
  if (real.reallocarray == nullptr || BootstrapContains(old)) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
      errno = ENOMEM;
      return nullptr;
    }
    return Realloc(ALLOCWATCH_CALL_SITE(), old, total);
  }
  uint64_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) total = UINT64_MAX;
  return HookRealloc(Call::kReallocArray, ALLOCWATCH_CALL_SITE(), old, total, n, size,
                     [&] { return real.reallocarray(old, n, size); });
}

ALLOCWATCH_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  return HookPosixMemalign(Real(), ALLOCWATCH_CALL_SITE(), out, alignment, size);
}

ALLOCWATCH_EXPORT void* aligned_alloc(size_t alignment, size_t size) {
  if (Bootstrapping()) return BootstrapAllocate(size, alignment);
  return HookMemalign(Real(), Call::kAlignedAlloc, alignment, size);
}

ALLOCWATCH_EXPORT void* memalign(size_t alignment, size_t size) {
  if (Bootstrapping()) return BootstrapAllocate(size, alignment);
  return HookMemalign(Real(), Call::kMemalign, alignment, size);
}

ALLOCWATCH_EXPORT void* valloc(size_t size) { return HookMemalign(Real(), Call::kValloc, 0, size); }

ALLOCWATCH_EXPORT void* pvalloc(size_t size) {
  return HookMemalign(Real(), Call::kPvalloc, 0, size);
}

ALLOCWATCH_EXPORT size_t malloc_usable_size(void* p) {
  if (ALLOCWATCH_UNLIKELY(BootstrapContains(p))) return BootstrapSize(p);
  return Real().malloc_usable_size(p);
}
