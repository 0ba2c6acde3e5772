// preload/hooks/recorder_state.h: the recorder's shared state (internal to hooks/).
//
// Hook-safe. Fields are set during start-up or in a fork child (single-threaded moments) and
// only read afterwards, except `state` and `next_snapshot_ns`, which are atomics.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

#include "preload/base/raw_io.h"
#include "preload/hooks/address_table.h"
#include "preload/hooks/session.h"
#include "preload/hooks/stack_table.h"

namespace allocwatch::preload {

struct RecorderState {
  enum State : int { kOff = 0, kRecording = 1, kFinished = 2, kDisabled = 3 };
  std::atomic<int> state{kOff};
  Config config;
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC at start of this process's recording
  uint64_t seed = 0;
  uint32_t pid = 0;
  uint64_t self_start = 0;  // liballocwatch.so code range (its frames are dropped)
  uint64_t self_end = 0;
  bool timer_thread = false;  // false in fork children: snapshots are taken by events
  std::atomic<uint64_t> next_snapshot_ns{0};
  Immortal<StackTable> stacks;
  Immortal<HeapTable> heap;
  Immortal<MappingTable> mappings;
};

extern RecorderState g_recorder;
extern uint64_t g_page_size;

inline uint64_t RoundUpToPage(uint64_t length) {
  return (length + g_page_size - 1) & ~(g_page_size - 1);
}

// Nanoseconds since this process's recording started.
uint64_t NowNs();
// The same at clock-tick resolution, for the per-event records (see FORMAT.md).
uint64_t EventNs();

// The heap events' clock (see ClockRecord): the time-stamp counter when usable, else
// CLOCK_MONOTONIC nanoseconds.
extern bool g_use_tsc;
// Event times must agree with the order in which threads hand blocks to each other: a free
// of a block another thread allocated must read a later time than that allocation, and an
// allocation of an address another thread freed a later time than that free. RDTSC may execute
// before earlier instructions have completed (seen: a free timed 35 ticks before the
// allocation it freed, its counter read before the load that obtained the block), so every
// event fences first (LFENCE: the counter is read after everything before it). It cannot read
// too late: instructions retire in order, and a later store (the block handed to another
// thread, the allocator's lock released) becomes visible only after it retires.
enum class TickOrder { kAfterEarlier, kBeforeLater };
template <TickOrder order>
ALLOCWATCH_ALWAYS_INLINE uint64_t OrderedTicks() {
#if defined(__x86_64__)
  if (ALLOCWATCH_LIKELY(g_use_tsc)) {
    if constexpr (order == TickOrder::kAfterEarlier) __builtin_ia32_lfence();
    uint64_t ticks = __builtin_ia32_rdtsc();
    if constexpr (order == TickOrder::kBeforeLater) __builtin_ia32_lfence();
    return ticks;
  }
#endif
  return MonotonicNs();  // the vDSO orders its own counter read
}
// For an event: read after everything before it.
ALLOCWATCH_ALWAYS_INLINE uint64_t EventTicks() { return OrderedTicks<TickOrder::kAfterEarlier>(); }
// For a flush's ClockRecord: read before the buffers are (nothing after it starts earlier).
ALLOCWATCH_ALWAYS_INLINE uint64_t ClockTicks() { return OrderedTicks<TickOrder::kBeforeLater>(); }

// Decides the clock at start-up (the kernel's clocksource tells whether the TSC is trusted).
void ChooseEventClock();

// Sends every buffered heap event to the writer and writes a ClockRecord after them. Called
// before snapshots, failures, exec and module changes.
void FlushEventsWithClock();

// Writes a SnapshotRecord (and rescans modules) when the interval has passed; used by events in
// processes without the timer thread.
void MaybeSnapshot(uint64_t now_ns);

}  // namespace allocwatch::preload
