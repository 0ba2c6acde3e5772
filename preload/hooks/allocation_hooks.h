// preload/hooks/allocation_hooks.h: the body of every hooked allocation function.
//
// Hook-safe. Each takes the real functions as a parameter (interpose/ passes libc's, tests may
// pass fakes): guard check, real call, then the inline fast path (hot_path.h) or, for sampled
// allocations, recorded frees and failures, the recorder with errno preserved. A failure (NULL,
// MAP_FAILED, non-zero return) is recorded with errno and stack.
#pragma once
#include "preload/base/hook_safe.h"

#include <libunwind.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "preload/base/errno_saver.h"
#include "preload/hooks/brink.h"
#include "preload/hooks/call_site_cache.h"
#include "preload/hooks/counters.h"
#include "preload/hooks/event_buffer.h"
#include "preload/hooks/hot_path.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/recorder.h"

namespace allocwatch::preload {

// Exact mode, once the thread has its counters, buffer and ThreadRecord: every event goes
// straight to the thread's buffer (then ExactSnapshotCheck). errno is left alone (what could
// change it, an unwind or a write, saves it itself).
ALLOCWATCH_ALWAYS_INLINE bool ExactFastPath(const ThreadState& t) {
  return IsExactMode() && IsRecording() && t.registered && t.announced && t.event_buffer != nullptr;
}

// After an exact event of the fast path. Without the timer thread (a single-threaded program,
// a fork child), the program's events take the snapshots (MaybeSnapshot), as the slow path's
// do, but only as often as the thread reads the clock (NextExactEventReadsClock).
ALLOCWATCH_ALWAYS_INLINE void ExactSnapshotCheck(const ThreadState& t) {
  if (ALLOCWATCH_LIKELY(g_recorder.timer_thread.load(std::memory_order_relaxed)) ||
      !NextExactEventReadsClock(t)) {
    return;
  }
  ErrnoSaver saved;
  MaybeSnapshot(EventNs(), HeapFigures::kMeasure);
}

// The one route of a new block `p` of `size` bytes that the inline fast path did not take
// (sampled, exact mode, or a thread that is not registered yet): counts it, decides whether it
// is recorded and records it with the stack above the program's call `site`. The caller has
// set the thread's guard and checked IsRecording().
ALLOCWATCH_ALWAYS_INLINE void RecordNewBlock(ThreadState& t, Call call, const void* p,
                                             uint64_t size, CallSite site) {
  if (ALLOCWATCH_UNLIKELY(IsPaused())) return CountUnrecordedBlock(t, size);
  if (ExactFastPath(t)) {
    CountAlloc(t, size);
    AppendExactEvent(t, format::EventKind::kAlloc, static_cast<uint16_t>(call),
                     reinterpret_cast<uint64_t>(p), size, CallSiteStack(t, site));
    CountBrinkBytes(size, HeapFigures::kMeasure);
    ExactSnapshotCheck(t);
    return;
  }
  ErrnoSaver saved;
  uint64_t period = 0;
  if (DecideSample(t, size, &period)) {
    RecordSampledAlloc(t, call, p, size, period, CallSiteStack(t, site));
  }
}

// The slow tail of the functions that return a new block or NULL.
// At most six arguments, all in registers, so the hooks reach it by a tail call: its caller is
// the program's call site, which keys the call-site cache (one frame fewer to unwind too).
__attribute__((noinline)) inline void* AllocSlowPath(ThreadState& t, Call call, void* p,
                                                     uint64_t size, uint64_t a0, uint64_t a1) {
  if (!IsRecording()) return p;
  t.in_hook = true;
  if (ALLOCWATCH_LIKELY(p != nullptr)) {
    RecordNewBlock(t, call, p, size, ALLOCWATCH_CALL_SITE());
  } else {
    ErrnoSaver saved;
    RecordFailure(t, call, a0, a1, 0, 0, saved.value(), -1);
  }
  t.in_hook = false;
  return p;
}

// A failed realloc or reallocarray (three arguments to record).
__attribute__((noinline)) inline void* ReallocFailedSlowPath(ThreadState& t, Call call, uint64_t a0,
                                                             uint64_t a1, uint64_t a2) {
  if (!IsRecording()) return nullptr;
  ErrnoSaver saved;
  t.in_hook = true;
  RecordFailure(t, call, a0, a1, a2, 0, saved.value(), -1);
  t.in_hook = false;
  return nullptr;
}

// Runs `real_call` with the guard set, then counts or records the result.
template <typename RealCall>
ALLOCWATCH_ALWAYS_INLINE void* HookAllocation(Call call, uint64_t size, uint64_t a0, uint64_t a1,
                                              RealCall real_call) {
  ThreadState& t = CurrentThread();
  if (ALLOCWATCH_UNLIKELY(t.in_hook)) return real_call();
  t.in_hook = true;
  void* p = real_call();
  t.in_hook = false;
  if (ALLOCWATCH_LIKELY(p != nullptr) && AllocFastPath(t, size)) return p;
  return AllocSlowPath(t, call, p, size, a0, a1);
}

inline void* HookMalloc(const RealFunctions& real, size_t size) {
  return HookAllocation(Call::kMalloc, size, size, 0, [&] { return real.malloc(size); });
}

inline void* HookCalloc(const RealFunctions& real, size_t n, size_t size) {
  uint64_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) total = UINT64_MAX;
  return HookAllocation(Call::kCalloc, total, n, size, [&] { return real.calloc(n, size); });
}

inline void* HookMemalign(const RealFunctions& real, Call call, size_t alignment, size_t size) {
  uint64_t a0 = call == Call::kValloc || call == Call::kPvalloc ? size : alignment;
  uint64_t a1 = call == Call::kValloc || call == Call::kPvalloc ? 0 : size;
  return HookAllocation(call, size, a0, a1, [&]() -> void* {
    switch (call) {
      case Call::kAlignedAlloc:
        return real.aligned_alloc(alignment, size);
      case Call::kMemalign:
        return real.memalign(alignment, size);
      case Call::kValloc:
        return real.valloc(size);
      default:
        return real.pvalloc(size);
    }
  });
}

// `site`: ALLOCWATCH_CALL_SITE() of the exported posix_memalign.
ALLOCWATCH_ALWAYS_INLINE int HookPosixMemalign(const RealFunctions& real, CallSite site, void** out,
                                               size_t alignment, size_t size) {
  HookGuard guard;
  int rc = real.posix_memalign(out, alignment, size);
  if (guard.Reentered()) return rc;
  ThreadState& t = guard.state();
  if (rc == 0 && AllocFastPath(t, size)) return rc;
  if (!IsRecording()) return rc;
  if (rc == 0) {
    RecordNewBlock(t, Call::kPosixMemalign, *out, size, site);
  } else {
    ErrnoSaver saved;
    RecordFailure(t, Call::kPosixMemalign, reinterpret_cast<uint64_t>(out), alignment, size, 0, rc,
                  rc);
  }
  return rc;
}

__attribute__((noinline)) inline void FreeSlowPath(ThreadState& t, void* p) {
  if (ExactFastPath(t)) {
    t.in_hook = true;
    CountFree(t);
    AppendExactEvent(t, format::EventKind::kFree, static_cast<uint16_t>(Call::kFree),
                     reinterpret_cast<uint64_t>(p), 0, 0);
    ExactSnapshotCheck(t);
    t.in_hook = false;
    return;
  }
  if (!IsRecording()) return;
  ErrnoSaver saved;
  t.in_hook = true;
  RecordFree(t, Call::kFree, p);
  t.in_hook = false;
}

inline void HookFree(const RealFunctions& real, void* p) {
  if (p == nullptr) return real.free(p);
  ThreadState& t = CurrentThread();
  if (ALLOCWATCH_UNLIKELY(t.in_hook)) return real.free(p);
  if (!ALLOCWATCH_LIKELY(FreeFastPath(p))) FreeSlowPath(t, p);
  // The guard stays set while the C library frees: a signal handler that allocates or maps
  // memory meanwhile must pass straight through, since recording it could need the allocator
  // lock this thread holds.
  t.in_hook = true;
  real.free(p);
  t.in_hook = false;
}

// realloc and reallocarray: `size` is the requested total, or UINT64_MAX on overflow; `site`
// is ALLOCWATCH_CALL_SITE() of the exported function.
template <typename RealCall>
ALLOCWATCH_ALWAYS_INLINE void* HookRealloc(Call call, CallSite site, void* old, uint64_t size,
                                           uint64_t a1, uint64_t a2, RealCall real_call) {
  ThreadState& t = CurrentThread();
  if (ALLOCWATCH_UNLIKELY(t.in_hook)) return real_call();
  if (old == nullptr || ALLOCWATCH_LIKELY(FreeFastPath(old))) {
    // `old` is NULL or was never recorded: only the new block may need the recorder.
    t.in_hook = true;
    void* p = real_call();
    t.in_hook = false;
    if (ALLOCWATCH_LIKELY(p != nullptr)) {
      if (ALLOCWATCH_LIKELY(AllocFastPath(t, size))) return p;
      return AllocSlowPath(t, call, p, size, 0, 0);
    }
    if (size == 0 && old != nullptr) return p;  // realloc(p, 0) freed p
    return ReallocFailedSlowPath(t, call, reinterpret_cast<uint64_t>(old), a1, a2);
  }
  HookGuard guard;
  if (!IsRecording()) return real_call();
  ReallocTicket ticket;
  {
    ErrnoSaver saved;
    ticket = BeginRealloc(guard.state(), old);
  }
  void* p = real_call();
  {
    ErrnoSaver saved;
    EndRealloc(guard.state(), call, old, ticket, p, size);
    if (p == nullptr && size != 0) {
      RecordFailure(guard.state(), call, reinterpret_cast<uint64_t>(old), a1, a2, 0, saved.value(),
                    -1);
    }
  }
  if (p != nullptr) RecordNewBlock(guard.state(), call, p, size, site);
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
    if (IsPaused()) return p;  // a new mapping while recording is stopped: not recorded
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

inline void* HookMremap(const RealFunctions& real, void* old, size_t old_length, size_t new_length,
                        int flags, void* new_address) {
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

inline int HookMprotect(const RealFunctions& real, void* addr, size_t length, int prot) {
  HookGuard guard;
  int rc = real.mprotect(addr, length, prot);
  if (guard.Reentered() || !IsRecording()) return rc;
  ErrnoSaver saved;
  if (rc == 0) {
    RecordProtect(guard.state(), addr, length, prot);
  } else if (saved.value() == ENOMEM) {  // out of map count or commit charge, or not mapped
    RecordFailure(guard.state(), Call::kMprotect, reinterpret_cast<uint64_t>(addr), length,
                  static_cast<uint64_t>(prot), 0, saved.value(), rc);
  }
  return rc;
}

inline int HookMadvise(const RealFunctions& real, void* addr, size_t length, int advice) {
  HookGuard guard;
  int rc = real.madvise(addr, length, advice);
  if (guard.Reentered() || !IsRecording() || rc != 0) return rc;
  ErrnoSaver saved;
  RecordAdvise(guard.state(), addr, length, advice);
  return rc;
}

}  // namespace allocwatch::preload
