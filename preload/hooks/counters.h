// preload/hooks/counters.h: lock-free per-thread allocation counters and their sum.
//
// Hook-safe. Threads claim a slot from a static table on first use and give it back at thread
// exit (the figures move to shared totals). With every slot taken, threads count into the
// shared totals with atomic adds.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

struct CounterTotals {
  uint64_t allocated_bytes = 0;  // requested bytes
  uint64_t alloc_calls = 0;
  uint64_t free_calls = 0;
};

// Called once at start-up (creates the thread-exit key).
void InitCounters();

// Slow-path counting (hot_path.h counts registered threads inline); registers the thread.
void CountAllocRegistering(ThreadState& thread, uint64_t requested_bytes);
void CountFreeRegistering(ThreadState& thread);

ALLOCWATCH_ALWAYS_INLINE void CountAlloc(ThreadState& thread, uint64_t requested_bytes) {
  if (ALLOCWATCH_LIKELY(thread.registered)) {
    thread.counters.AddAllocation(requested_bytes);
    return;
  }
  CountAllocRegistering(thread, requested_bytes);
}

ALLOCWATCH_ALWAYS_INLINE void CountFree(ThreadState& thread) {
  if (ALLOCWATCH_LIKELY(thread.registered)) {
    ThreadCounters::Add(thread.counters.free_calls, 1);
    return;
  }
  CountFreeRegistering(thread);
}

// Sum over live threads and retired ones. Approximate while threads run, exact when quiet.
CounterTotals SumCounters();

// In the child after fork: folds every slot but the calling thread's into the totals.
void CountersAfterFork(ThreadState& thread);

// The one registered thread whose counts changed since the last call, or nullptr when none or
// several did (the timer thread's; see event_buffer.h, ChooseEventTimeOwner).
ThreadState* SoleActiveThread();

// Attached again: every registered thread writes its ThreadRecord anew into the new recording.
// Called while no thread is in a hook (the program's calls do not reach them).
void ForgetThreadRecords();
// Attached again: the counts start from zero, as the new recording does.
void ResetCounters();

}  // namespace allocwatch::preload
