// preload/hooks/hot_path.h: the inline fast paths of the heap hooks.
//
// Hook-safe. An allocation that is not sampled costs a thread-local countdown, two thread-local
// counter updates and two branches; a free of a block that was never recorded costs two loads
// from read-mostly globals (the mode and the heap table's filter). Both keep the thread's guard
// set around the C library's call (see HookFree). Everything else (start-up, sampled
// allocations, recorded frees, failures, exact mode) goes to the slow paths in recorder.cc.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

#include "preload/hooks/address_table.h"
#include "preload/hooks/sampler.h"
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

struct HotConfig {
  // The mean sampling period T, doubled when the recording cannot keep up. 1 sends every
  // allocation and free to the slow path: exact mode, and before recording starts.
  std::atomic<uint64_t> period{1};
};
extern ALLOCWATCH_HIDDEN HotConfig g_hot;

// True when the allocation of `size` bytes needs nothing more than counting (done here): the
// sampler's countdown (Sampler::CountDown) with the thread's fast_threshold, which the slow
// path sets to the countdown's period, or to 0 to have every allocation come to it.
ALLOCWATCH_ALWAYS_INLINE bool AllocFastPath(ThreadState& t, uint64_t size) {
  if (!Sampler::CountDown(t, size, t.fast_threshold)) return false;
  t.counters.AddAllocation(size);
  return true;
}

// True when the free of `p` needs nothing from the recorder: the block was never recorded.
// Two loads from read-mostly globals (frees are counted in exact mode only).
ALLOCWATCH_ALWAYS_INLINE bool FreeFastPath(const void* p) {
  return g_hot.period.load(std::memory_order_relaxed) > 1 &&
         !HeapTable::MayContain(reinterpret_cast<uint64_t>(p));
}

}  // namespace allocwatch::preload
