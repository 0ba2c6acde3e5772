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
  // Plain fields (so ThreadState stays trivial for __thread), accessed with __atomic builtins.
  uint64_t allocated_bytes;  // requested bytes
  uint64_t alloc_calls;
  uint64_t free_calls;

  // Owner-only increment: a relaxed load and store, no lock prefix.
  ALLOCWATCH_ALWAYS_INLINE static void Add(uint64_t& c, uint64_t v) {
    __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
  }
  // One allocation of `size` requested bytes, by the owner.
  ALLOCWATCH_ALWAYS_INLINE void AddAllocation(uint64_t size) {
    Add(allocated_bytes, size);
    Add(alloc_calls, 1);
  }
  static uint64_t Load(const uint64_t& c) { return __atomic_load_n(&c, __ATOMIC_RELAXED); }
  static void FetchAdd(uint64_t& c, uint64_t v) { __atomic_fetch_add(&c, v, __ATOMIC_RELAXED); }
  static uint64_t Take(uint64_t& c) { return __atomic_exchange_n(&c, 0, __ATOMIC_RELAXED); }
};

struct ThreadState {
  bool in_hook;                // reentrancy guard: allocwatch's own allocations pass through
  bool announced;              // a ThreadRecord was written for this thread in this process
  bool registered;             // the counters are in the slot table (snapshots see them)
  bool retired;                // the thread is exiting; counters go to the shared totals
  uint32_t tid;                // cached gettid(); 0 until first use and after fork
  int64_t bytes_until_sample;  // sampler countdown
  uint64_t rng_state;          // sampler's per-thread random state
  uint64_t countdown_period;   // the mean period T the countdown was drawn with
  uint64_t fast_threshold;     // while registered, the countdown's period: smaller allocations may
                               // take the fast path; 0 otherwise
  ThreadCounters counters;     // read by snapshots through the counters' slot table
  void* stack_cache;           // StackTable's per-thread cache, mapped on first use
  void* call_site_cache;       // call_site_cache.cc's cache, mapped on first use
  void* event_buffer;          // this thread's EventBuffer (event_buffer.cc), claimed on first use
  // The thread's own stack, [stack_low, stack_high); both 0 while unknown. Learnt where no
  // lock can be held (stack_bounds.h), never inside a hook; stacks are not cached without them.
  uint64_t stack_low;
  uint64_t stack_high;
  // Exact mode's event times (event_buffer.cc, ExactStamp): the last time read, the stamp epoch
  // it was read in, and how many more events may take it without reading the clock again.
  uint64_t stamp;
  uint32_t stamp_epoch;
  uint32_t stamp_left;
  // unwind_gate.h: how deep this thread is in calls into libunwind, and whether it is the one
  // that closed the gate for a fork.
  uint32_t unwind_depth;
  bool forking;
};

// Zero-initialised, initial-exec: no TLS constructor, no __tls_get_addr, no allocation.
extern ALLOCWATCH_HIDDEN __thread ThreadState t_state __attribute__((tls_model("initial-exec")));

// The calling thread's state. Zero-initialised storage, valid from the thread's first instruction.
ALLOCWATCH_ALWAYS_INLINE ThreadState& CurrentThread() { return t_state; }

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
