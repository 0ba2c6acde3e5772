// preload/hooks/counters.cc: see counters.h.
#include "preload/hooks/counters.h"

#include <pthread.h>

#include <atomic>

namespace allocwatch::preload {
namespace {

constexpr int kSlots = 4096;

struct alignas(64) Slot {
  ThreadCounters counters;
  std::atomic<bool> used{false};
  ThreadState* owner = nullptr;
};

constinit Slot g_slots[kSlots];
constinit std::atomic<int> g_slot_hint{0};
constinit ThreadCounters g_retired;  // updated with fetch_add: shared by many threads
pthread_key_t g_exit_key = 0;
bool g_key_ready = false;

void FetchAdd(std::atomic<uint64_t>& c, uint64_t v) { c.fetch_add(v, std::memory_order_relaxed); }

void Fold(ThreadCounters& from) {
  FetchAdd(g_retired.allocated_bytes, from.allocated_bytes.exchange(0, std::memory_order_relaxed));
  FetchAdd(g_retired.freed_bytes, from.freed_bytes.exchange(0, std::memory_order_relaxed));
  FetchAdd(g_retired.alloc_calls, from.alloc_calls.exchange(0, std::memory_order_relaxed));
  FetchAdd(g_retired.free_calls, from.free_calls.exchange(0, std::memory_order_relaxed));
}

Slot* SlotOf(ThreadCounters* c) { return reinterpret_cast<Slot*>(c); }

void OnThreadExit(void*) {
  ThreadState& thread = CurrentThread();
  bool was_in_hook = thread.in_hook;
  thread.in_hook = true;
  if (thread.registered) {
    Slot* slot = SlotOf(thread.counters);
    thread.retired = true;
    thread.registered = false;
    thread.counters = nullptr;
    Fold(slot->counters);
    slot->owner = nullptr;
    slot->used.store(false, std::memory_order_release);
  }
  thread.in_hook = was_in_hook;
}

// Claims a slot for the thread; returns false when none is free or the thread is exiting.
bool Register(ThreadState& thread) {
  if (thread.retired) return false;
  int start = g_slot_hint.load(std::memory_order_relaxed);
  for (int i = 0; i < kSlots; ++i) {
    Slot& slot = g_slots[(start + i) % kSlots];
    bool expected = false;
    if (!slot.used.load(std::memory_order_relaxed) &&
        slot.used.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      g_slot_hint.store((start + i + 1) % kSlots, std::memory_order_relaxed);
      slot.owner = &thread;
      thread.counters = &slot.counters;
      thread.registered = true;
      // A non-null value makes the key's destructor run at thread exit.
      if (g_key_ready) pthread_setspecific(g_exit_key, &slot);
      return true;
    }
  }
  thread.retired = true;  // table full: count into the shared totals from now on
  return false;
}

ALLOCWATCH_ALWAYS_INLINE ThreadCounters* CountersOf(ThreadState& thread) {
  if (ALLOCWATCH_LIKELY(thread.registered)) return thread.counters;
  if (Register(thread)) return thread.counters;
  return nullptr;
}

}  // namespace

void InitCounters() {
  if (pthread_key_create(&g_exit_key, OnThreadExit) == 0) g_key_ready = true;
}

void CountAlloc(ThreadState& thread, uint64_t usable_bytes) {
  if (ThreadCounters* c = CountersOf(thread)) {
    ThreadCounters::Add(c->allocated_bytes, usable_bytes);
    ThreadCounters::Add(c->alloc_calls, 1);
  } else {
    FetchAdd(g_retired.allocated_bytes, usable_bytes);
    FetchAdd(g_retired.alloc_calls, 1);
  }
}

void CountFree(ThreadState& thread, uint64_t usable_bytes) {
  if (ThreadCounters* c = CountersOf(thread)) {
    ThreadCounters::Add(c->freed_bytes, usable_bytes);
    ThreadCounters::Add(c->free_calls, 1);
  } else {
    FetchAdd(g_retired.freed_bytes, usable_bytes);
    FetchAdd(g_retired.free_calls, 1);
  }
}

CounterTotals SumCounters() {
  CounterTotals t;
  auto add = [&t](const ThreadCounters& c) {
    t.allocated_bytes += c.allocated_bytes.load(std::memory_order_relaxed);
    t.freed_bytes += c.freed_bytes.load(std::memory_order_relaxed);
    t.alloc_calls += c.alloc_calls.load(std::memory_order_relaxed);
    t.free_calls += c.free_calls.load(std::memory_order_relaxed);
  };
  add(g_retired);
  for (Slot& slot : g_slots) {
    if (slot.used.load(std::memory_order_acquire)) add(slot.counters);
  }
  return t;
}

void CountersAfterFork(ThreadState& thread) {
  for (Slot& slot : g_slots) {
    if (!slot.used.load(std::memory_order_relaxed) || slot.owner == &thread) continue;
    Fold(slot.counters);
    slot.owner = nullptr;
    slot.used.store(false, std::memory_order_relaxed);
  }
}

}  // namespace allocwatch::preload
