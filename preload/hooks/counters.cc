// preload/hooks/counters.cc: see counters.h.
#include "preload/hooks/counters.h"

#include <pthread.h>

#include <atomic>

#include "preload/base/spinlock.h"
#include "preload/hooks/call_site_cache.h"
#include "preload/hooks/event_buffer.h"
#include "preload/hooks/stack_table.h"

namespace allocwatch::preload {
namespace {

constexpr int kSlots = 4096;

// A registered thread's counters live in its own TLS (ThreadState::counters); the slot points
// at them. g_sum_lock keeps a slot's pointer valid while snapshots read it: a thread leaves its
// slot under the lock at exit, before its TLS goes away.
struct alignas(64) Slot {
  ThreadCounters* counters = nullptr;
  std::atomic<bool> used{false};
  ThreadState* owner = nullptr;
  uint64_t last_calls = 0;  // SoleActiveThread()'s, under g_sum_lock
};

constinit Slot g_slots[kSlots];
// Slots [0, g_slots_touched) have been claimed at some time; the rest were never touched, and
// the scans stop there (a scan of all 4096 slots at start-up faulted in 256 KiB of zero pages:
// a tenth of the library's start-up on /bin/true). Only grows; threads take the lowest free
// slot, so it stays near the most threads registered at once.
constinit std::atomic<int> g_slots_touched{0};
constinit ThreadCounters g_retired{};  // updated with fetch_add: shared by many threads
constinit Spinlock g_sum_lock;
pthread_key_t g_exit_key = 0;
bool g_key_ready = false;

void FetchAdd(uint64_t& c, uint64_t v) { ThreadCounters::FetchAdd(c, v); }

void Fold(ThreadCounters& from) {
  FetchAdd(g_retired.allocated_bytes, ThreadCounters::Take(from.allocated_bytes));
  FetchAdd(g_retired.alloc_calls, ThreadCounters::Take(from.alloc_calls));
  FetchAdd(g_retired.free_calls, ThreadCounters::Take(from.free_calls));
}

void OnThreadExit(void* slot_ptr) {
  ThreadState& thread = CurrentThread();
  bool was_in_hook = thread.in_hook;
  thread.in_hook = true;
  if (thread.registered) {
    auto* slot = static_cast<Slot*>(slot_ptr);
    thread.retired = true;
    thread.registered = false;
    thread.fast_threshold = 0;  // every call takes the slow path from now on
    SpinlockHolder hold(g_sum_lock);
    Fold(thread.counters);
    slot->counters = nullptr;
    slot->owner = nullptr;
    slot->used.store(false, std::memory_order_release);
  }
  thread.retired = true;
  StackTable::ReleaseThreadCache(thread);
  ReleaseCallSiteCache(thread);
  ReleaseEventBuffer(thread);
  thread.in_hook = was_in_hook;
}

// The slots ever claimed, for scans.
struct SlotRange {
  Slot* first;
  Slot* last;
  Slot* begin() const { return first; }
  Slot* end() const { return last; }
};
SlotRange ClaimedSlots() {
  return {g_slots, g_slots + g_slots_touched.load(std::memory_order_acquire)};
}

// Claims the lowest free slot for the thread (so the claimed slots stay a short prefix);
// returns false when none is free or the thread is exiting.
bool Register(ThreadState& thread) {
  if (thread.retired) return false;
  for (int index = 0; index < kSlots; ++index) {
    Slot& slot = g_slots[index];
    bool expected = false;
    if (slot.used.load(std::memory_order_relaxed) ||
        !slot.used.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      continue;
    }
    int seen = g_slots_touched.load(std::memory_order_relaxed);
    while (seen < index + 1 &&
           !g_slots_touched.compare_exchange_weak(seen, index + 1, std::memory_order_release)) {
    }
    {
      SpinlockHolder hold(g_sum_lock);
      slot.owner = &thread;
      slot.counters = &thread.counters;
    }
    thread.registered = true;
    // A non-null value makes the key's destructor run at thread exit.
    if (g_key_ready) pthread_setspecific(g_exit_key, &slot);
    return true;
  }
  thread.retired = true;  // table full: count into the shared totals from now on
  return false;
}

ALLOCWATCH_ALWAYS_INLINE ThreadCounters* CountersOf(ThreadState& thread) {
  if (ALLOCWATCH_LIKELY(thread.registered)) return &thread.counters;
  if (Register(thread)) return &thread.counters;
  return nullptr;
}

}  // namespace

void InitCounters() {
  if (pthread_key_create(&g_exit_key, OnThreadExit) == 0) g_key_ready = true;
}

void CountAllocRegistering(ThreadState& thread, uint64_t requested_bytes) {
  if (ThreadCounters* c = CountersOf(thread)) {
    c->AddAllocation(requested_bytes);
  } else {
    FetchAdd(g_retired.allocated_bytes, requested_bytes);
    FetchAdd(g_retired.alloc_calls, 1);
  }
}

void CountFreeRegistering(ThreadState& thread) {
  if (ThreadCounters* c = CountersOf(thread)) {
    ThreadCounters::Add(c->free_calls, 1);
  } else {
    FetchAdd(g_retired.free_calls, 1);
  }
}

CounterTotals SumCounters() {
  CounterTotals t;
  auto add = [&t](const ThreadCounters& c) {
    t.allocated_bytes += ThreadCounters::Load(c.allocated_bytes);
    t.alloc_calls += ThreadCounters::Load(c.alloc_calls);
    t.free_calls += ThreadCounters::Load(c.free_calls);
  };
  SpinlockHolder hold(g_sum_lock);
  add(g_retired);
  for (Slot& slot : ClaimedSlots()) {
    if (slot.used.load(std::memory_order_acquire) && slot.counters != nullptr) {
      add(*slot.counters);
    }
  }
  return t;
}

void CountersAfterFork(ThreadState& thread) {
  g_sum_lock.ResetAfterFork();
  for (Slot& slot : ClaimedSlots()) {
    if (!slot.used.load(std::memory_order_relaxed) || slot.owner == &thread) continue;
    if (slot.counters != nullptr) Fold(*slot.counters);  // the parent's threads' copies
    slot.counters = nullptr;
    slot.owner = nullptr;
    slot.used.store(false, std::memory_order_relaxed);
  }
}

void ResetCounters() {
  SpinlockHolder hold(g_sum_lock);
  for (Slot& slot : ClaimedSlots()) {
    if (slot.used.load(std::memory_order_relaxed) && slot.counters != nullptr) {
      ThreadCounters::Take(slot.counters->allocated_bytes);
      ThreadCounters::Take(slot.counters->alloc_calls);
      ThreadCounters::Take(slot.counters->free_calls);
    }
  }
  ThreadCounters::Take(g_retired.allocated_bytes);
  ThreadCounters::Take(g_retired.alloc_calls);
  ThreadCounters::Take(g_retired.free_calls);
}

ThreadState* SoleActiveThread() {
  SpinlockHolder hold(g_sum_lock);
  ThreadState* sole = nullptr;
  int active = 0;
  for (Slot& slot : ClaimedSlots()) {
    if (!slot.used.load(std::memory_order_acquire) || slot.counters == nullptr) continue;
    uint64_t calls = ThreadCounters::Load(slot.counters->alloc_calls) +
                     ThreadCounters::Load(slot.counters->free_calls);
    if (calls == slot.last_calls) continue;
    slot.last_calls = calls;
    sole = slot.owner;
    ++active;
  }
  return active == 1 ? sole : nullptr;
}

void ForgetThreadRecords() {
  SpinlockHolder hold(g_sum_lock);
  for (Slot& slot : ClaimedSlots()) {
    if (slot.used.load(std::memory_order_relaxed) && slot.owner != nullptr) {
      slot.owner->announced = false;
    }
  }
}

}  // namespace allocwatch::preload
