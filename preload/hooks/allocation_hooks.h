// preload/hooks/allocation_hooks.h: the body of every hooked allocation function.
//
// Hook-safe. Each takes the real functions as a parameter (interpose/ passes libc's, tests may
// pass fakes): guard check, real call, then the event is recorded with errno preserved. A
// failure (NULL, MAP_FAILED, non-zero return) is recorded with errno and stack.
#pragma once
#include "preload/base/hook_safe.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "preload/base/errno_saver.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/recorder.h"

namespace allocwatch::preload {

// Shared tail of the functions that return a new block or NULL.
ALLOCWATCH_ALWAYS_INLINE void* AfterAlloc(HookGuard& guard, Call call, void* p, uint64_t size,
                                          uint64_t a0, uint64_t a1) {
  if (guard.Reentered() || !IsRecording()) return p;
  ErrnoSaver saved;
  if (ALLOCWATCH_LIKELY(p != nullptr)) {
    RecordAlloc(guard.state(), call, p, size);
  } else {
    RecordFailure(guard.state(), call, a0, a1, 0, 0, saved.value(), -1);
  }
  return p;
}

inline void* HookMalloc(const RealFunctions& real, size_t size) {
  HookGuard guard;
  return AfterAlloc(guard, Call::kMalloc, real.malloc(size), size, size, 0);
}

inline void* HookCalloc(const RealFunctions& real, size_t n, size_t size) {
  HookGuard guard;
  uint64_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) total = UINT64_MAX;
  return AfterAlloc(guard, Call::kCalloc, real.calloc(n, size), total, n, size);
}

inline void* HookMemalign(const RealFunctions& real, Call call, size_t alignment, size_t size) {
  HookGuard guard;
  void* p = nullptr;
  switch (call) {
    case Call::kAlignedAlloc: p = real.aligned_alloc(alignment, size); break;
    case Call::kMemalign: p = real.memalign(alignment, size); break;
    case Call::kValloc: p = real.valloc(size); break;
    default: p = real.pvalloc(size); break;
  }
  uint64_t a0 = call == Call::kValloc || call == Call::kPvalloc ? size : alignment;
  uint64_t a1 = call == Call::kValloc || call == Call::kPvalloc ? 0 : size;
  return AfterAlloc(guard, call, p, size, a0, a1);
}

inline int HookPosixMemalign(const RealFunctions& real, void** out, size_t alignment,
                             size_t size) {
  HookGuard guard;
  int rc = real.posix_memalign(out, alignment, size);
  if (guard.Reentered() || !IsRecording()) return rc;
  ErrnoSaver saved;
  if (rc == 0) {
    RecordAlloc(guard.state(), Call::kPosixMemalign, *out, size);
  } else {
    RecordFailure(guard.state(), Call::kPosixMemalign, reinterpret_cast<uint64_t>(out), alignment,
                  size, 0, rc, rc);
  }
  return rc;
}

inline void HookFree(const RealFunctions& real, void* p) {
  if (p == nullptr) return real.free(p);
  HookGuard guard;
  if (!guard.Reentered() && IsRecording()) {
    ErrnoSaver saved;
    RecordFree(guard.state(), Call::kFree, p);
  }
  real.free(p);
}

// realloc and reallocarray: `size` is the requested total, or UINT64_MAX on overflow.
template <typename RealCall>
void* HookRealloc(Call call, void* old, uint64_t size, uint64_t a1, uint64_t a2,
                  RealCall real_call) {
  HookGuard guard;
  if (guard.Reentered() || !IsRecording()) return real_call();
  if (old == nullptr) {
    return AfterAlloc(guard, call, real_call(), size, 0, call == Call::kRealloc ? size : a1);
  }
  ReallocTicket ticket;
  {
    ErrnoSaver saved;
    ticket = BeginRealloc(guard.state(), old);
  }
  void* p = real_call();
  ErrnoSaver saved;
  EndRealloc(guard.state(), call, old, ticket, p, size);
  if (p == nullptr && size != 0) {
    RecordFailure(guard.state(), call, reinterpret_cast<uint64_t>(old), a1, a2, 0, saved.value(),
                  -1);
  }
  return p;
}

inline void* HookMmap(const RealFunctions& real, Call call, void* addr, size_t length, int prot,
                      int flags, int fd, off_t offset) {
  HookGuard guard;
  auto fn = call == Call::kMmap64 ? real.mmap64 : real.mmap;
  void* p = fn(addr, length, prot, flags, fd, offset);
  if (guard.Reentered() || !IsRecording()) return p;
  ErrnoSaver saved;
  if (p != MAP_FAILED) {
    RecordMmap(guard.state(), call, p, length, prot, flags, fd, static_cast<uint64_t>(offset));
  } else {
    RecordFailure(guard.state(), call, reinterpret_cast<uint64_t>(addr), length,
                  static_cast<uint64_t>(prot), static_cast<uint64_t>(flags), saved.value(), -1);
  }
  return p;
}

inline int HookMunmap(const RealFunctions& real, void* addr, size_t length) {
  HookGuard guard;
  bool record = !guard.Reentered() && IsRecording();
  if (record) {
    ErrnoSaver saved;
    RecordMunmap(guard.state(), addr, length);
  }
  int rc = real.munmap(addr, length);
  if (record && rc != 0) {
    ErrnoSaver saved;
    RecordFailure(guard.state(), Call::kMunmap, reinterpret_cast<uint64_t>(addr), length, 0, 0,
                  saved.value(), rc);
  }
  return rc;
}

inline void* HookMremap(const RealFunctions& real, void* old, size_t old_length,
                        size_t new_length, int flags, void* new_address) {
  HookGuard guard;
  void* p = real.mremap(old, old_length, new_length, flags, new_address);
  if (guard.Reentered() || !IsRecording()) return p;
  ErrnoSaver saved;
  if (p != MAP_FAILED) {
    RecordMremap(guard.state(), old, old_length, p, new_length, flags);
  } else {
    RecordFailure(guard.state(), Call::kMremap, reinterpret_cast<uint64_t>(old), old_length,
                  new_length, static_cast<uint64_t>(flags), saved.value(), -1);
  }
  return p;
}

}  // namespace allocwatch::preload
