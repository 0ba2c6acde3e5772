// preload/interpose/mmap_interpose.cc: the exported mapping functions.
//
// Hook-safe. glibc's own internal mmap calls (large malloc blocks, thread stacks, the loader)
// do not go through these symbols, so the heap is not counted twice.
#include <stdarg.h>
#include <sys/mman.h>

#include "preload/hooks/allocation_hooks.h"
#include "preload/interpose/symbols.h"

using namespace allocwatch::preload;  // NOLINT: one-line wrappers

ALLOCWATCH_EXPORT void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return HookMmap(Real(), Call::kMmap, addr, length, prot, flags, fd, offset);
}

ALLOCWATCH_EXPORT void* mmap64(void* addr, size_t length, int prot, int flags, int fd,
                               off_t offset) {
  return HookMmap(Real(), Call::kMmap64, addr, length, prot, flags, fd, offset);
}

ALLOCWATCH_EXPORT int munmap(void* addr, size_t length) { return HookMunmap(Real(), addr, length); }

ALLOCWATCH_EXPORT void* mremap(void* old, size_t old_length, size_t new_length, int flags, ...) {
  void* new_address = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_address = va_arg(ap, void*);
    va_end(ap);
  }
  return HookMremap(Real(), old, old_length, new_length, flags, new_address);
}

ALLOCWATCH_EXPORT int mprotect(void* addr, size_t length, int prot) {
  return HookMprotect(Real(), addr, length, prot);
}

ALLOCWATCH_EXPORT int madvise(void* addr, size_t length, int advice) {
  return HookMadvise(Real(), addr, length, advice);
}
