// preload/hooks/thread_state.h: what each thread keeps for allocwatch, in initial-exec TLS.
//
// Hook-safe. Each field is touched only by its own thread, except the counters, which the
// snapshot code reads (relaxed) from another thread.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

namespace allocwatch::preload {

// Cumulative per-thread figures. Written only by the owning thread (relaxed load+store, no
// lock prefix on the hot path), read by snapshots from any thread.
struct ThreadCounters {
  std::atomic<uint64_t> allocated_bytes{0};
  std::atomic<uint64_t> freed_bytes{0};
  std::atomic<uint64_t> alloc_calls{0};
  std::atomic<uint64_t> free_calls{0};

  ALLOCWATCH_ALWAYS_INLINE static void Add(std::atomic<uint64_t>& c, uint64_t v) {
    c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
};

struct ThreadState {
  bool in_hook;            // reentrancy guard: allocwatch's own allocations pass through
  bool announced;          // a ThreadRecord was written for this thread in this process
  bool registered;         // counters_ points at a registered slot
  bool retired;            // the thread is exiting; counters go to the shared totals
  uint32_t tid;            // cached gettid(); 0 until first use and after fork
  int64_t bytes_until_sample;  // sampler countdown
  uint64_t rng_state;      // sampler's per-thread random state
  ThreadCounters* counters;
};

// The calling thread's state. Zero-initialised storage, valid from the thread's first instruction.
ThreadState& CurrentThread();

// Sets the guard for a scope; Entered() tells whether the guard was already set (reentrant call).
class HookGuard {
 public:
  HookGuard() : state_(CurrentThread()), reentered_(state_.in_hook) { state_.in_hook = true; }
  ~HookGuard() {
    if (!reentered_) state_.in_hook = false;
  }
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;
  bool Reentered() const { return reentered_; }
  ThreadState& state() { return state_; }

 private:
  ThreadState& state_;
  bool reentered_;
};

}  // namespace allocwatch::preload
