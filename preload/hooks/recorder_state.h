// preload/hooks/recorder_state.h: the recorder's shared state (internal to hooks/).
//
// Hook-safe. Fields are set during start-up or in a fork child (single-threaded moments) and
// only read afterwards, except `state` and `next_snapshot_ns`, which are atomics.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

#include "preload/base/raw_io.h"
#include "preload/format/record_format.h"
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
  // Whether the timer thread runs; without it, events take the snapshots (MaybeSnapshot).
  std::atomic<bool> timer_thread{false};
  bool fork_child = false;  // this process's recording began in a fork child (no timer thread)
  // Loaded by allocwatch attach rather than LD_PRELOAD: the program's calls reach the hooks
  // through rewritten GOT entries (attach.h), and the timer thread always runs.
  bool attached = false;
  // Counts the recordings this process began (attached again after a detach): a timer thread
  // serves only the recording it was started for.
  std::atomic<uint32_t> runs{0};
  std::atomic<uint64_t> next_snapshot_ns{0};
  // Recording is stopped (allocwatch run --paused, allocwatch ctl stop): allocations and new
  // mappings are counted, not recorded (control.h).
  std::atomic<bool> paused{false};
  Immortal<StackTable> stacks;
  Immortal<HeapTable> heap;
  Immortal<MappingTable> mappings;
};

extern RecorderState g_recorder;

// True while events are being recorded (a relaxed load).
ALLOCWATCH_ALWAYS_INLINE bool IsRecording() {
  return g_recorder.state.load(std::memory_order_relaxed) == RecorderState::kRecording;
}
extern uint64_t g_page_size;

// True while recording is stopped by --paused or allocwatch ctl (a relaxed load).
ALLOCWATCH_ALWAYS_INLINE bool IsPaused() {
  return g_recorder.paused.load(std::memory_order_relaxed);
}

// Exact mode: every allocation and free is recorded (ALLOCWATCH_SAMPLE_BYTES=1). Decided once at
// start-up; the sampling period of the sampled mode (HotConfig::period) never makes a process
// exact.
ALLOCWATCH_ALWAYS_INLINE bool IsExactMode() { return g_recorder.config.Exact(); }

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
// Event times order the events of different threads. Each event reads the time-stamp counter
// without a fence: RDTSC may execute a few dozen cycles before or after the instructions around
// it (seen: a free timed 35 ticks before the allocation it freed, on another thread). A fence
// before each read would cost more than half again of the whole event (15 ns against 9 here), so
// the reader repairs the order instead: a free that comes before the allocation of its address
// within that margin is applied after it (report/replay/heap_records.cc). Flushes fence their
// ClockRecord's read (nothing in the buffers flushed after it may read a later time than it... see
// FORMAT.md).
ALLOCWATCH_ALWAYS_INLINE uint64_t EventTicks() {
#if defined(__x86_64__)
  if (ALLOCWATCH_LIKELY(g_use_tsc)) return __builtin_ia32_rdtsc();
#endif
  return MonotonicNs();
}
// For a flush's ClockRecord: read before the buffers are (nothing after it starts earlier).
ALLOCWATCH_ALWAYS_INLINE uint64_t ClockTicks() {
#if defined(__x86_64__)
  if (ALLOCWATCH_LIKELY(g_use_tsc)) {
    uint64_t ticks = __builtin_ia32_rdtsc();
    __builtin_ia32_lfence();
    return ticks;
  }
#endif
  return MonotonicNs();
}

// Decides the clock at start-up (the kernel's clocksource tells whether the TSC is trusted).
void ChooseEventClock();

// Sends every buffered heap event to the writer and writes a ClockRecord after them. Called
// before snapshots, failures, exec and module changes.
void FlushEventsWithClock();

// Whether a snapshot may measure the C library's heap (mallinfo2, which takes the arena locks):
// only where the calling thread cannot hold one (see HeapInUse in lifecycle.cc).
enum class HeapFigures { kMeasure, kLastMeasured };

// /proc/self/statm: the size of the address space, and the resident bytes in *resident (0 and
// 0 when it cannot be read).
uint64_t StatmBytes(uint64_t* resident);

// Writes `r` (kind, percent, limit, headroom and reclaimable filled in) with the figures of
// this instant and a HeadroomRecord, after every buffered heap event (brink.h).
void WriteBrink(format::BrinkRecord& r, HeapFigures figures);

// Writes a SnapshotRecord (and rescans modules) when the interval has passed; used by events in
// processes without the timer thread.
void MaybeSnapshot(uint64_t now_ns, HeapFigures figures);

// Sends every buffered event and writes a snapshot now (allocwatch ctl snapshot).
void SnapshotNow(HeapFigures figures);

}  // namespace allocwatch::preload
