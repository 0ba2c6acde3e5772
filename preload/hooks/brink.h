// preload/hooks/brink.h: the last picture before the kill (internal to hooks/).
//
// Hook-safe. Thread-safe. Watches the headroom under the limits that end a process: the memory
// cgroup (every limited level, usage as the kernel charges it, file pages counted as
// reclaimable), the commit limit (only under overcommit_memory 2) and RLIMIT_AS. When the
// headroom under one falls below a threshold percentage of it (Config::brink_percent,
// ALLOCWATCH_BRINK_PERCENT: default 10, 5 and 2), a BrinkRecord and a HeadroomRecord are written at
// once, after every buffered heap event: the report replays the events up to it and shows who held
// the memory at that instant (preload/FORMAT.md, "The brink"). A threshold fires again only after
// the headroom has been above twice it.
//
// The check costs a pread of each limited level's usage file (kept open) and, close to a
// limit, a read of memory.stat at most every 20 ms. It runs after a budget of allocated bytes
// (a 32nd of the smallest headroom, at least 64 KiB) counted on the recorded paths (every
// allocation in exact mode, each sample for the period it stands for in sampled mode, and
// every mapping), at most once per 250 us, and from the timer thread every BrinkTickNs().
// Nothing is watched (one relaxed load per recorded allocation) when no limit applies.
#pragma once
#include "preload/base/hook_safe.h"

#include <atomic>
#include <cstdint>

#include "preload/hooks/recorder_state.h"
#include "preload/procfs/headroom.h"

namespace allocwatch::preload {

struct BrinkWatch {
  std::atomic<bool> armed{false};        // some limit applies and a threshold is set
  std::atomic<int64_t> budget_bytes{0};  // bytes allocated until the next check
};
extern ALLOCWATCH_HIDDEN BrinkWatch g_brink;

// Finds the limits in `limits` (a headroom snapshot taken now) and arms the watch (forgetting
// the thresholds that fired): at the start of every process's recording, a fork child's
// included. RefreshBrinkLimits takes a new reading of the limits (they may change), keeping
// what fired; from the periodic snapshots.
void SetUpBrink(const HeadroomSnapshot& limits);
void RefreshBrinkLimits(const HeadroomSnapshot& snapshot);

// Checks the headroom now and writes a brink record for each threshold newly crossed.
void CheckBrink(HeapFigures figures);

// Counts `bytes` allocated on a recorded path; checks when the budget is spent.
ALLOCWATCH_ALWAYS_INLINE void CountBrinkBytes(uint64_t bytes, HeapFigures figures) {
  if (ALLOCWATCH_LIKELY(!g_brink.armed.load(std::memory_order_relaxed))) return;
  // A plain load and store: a lost update between threads only moves the check a little.
  int64_t left = g_brink.budget_bytes.load(std::memory_order_relaxed) - static_cast<int64_t>(bytes);
  g_brink.budget_bytes.store(left, std::memory_order_relaxed);
  if (ALLOCWATCH_UNLIKELY(left <= 0)) CheckBrink(figures);
}

// How long the timer thread may sleep between checks: shorter as the headroom shrinks
// (UINT64_MAX when nothing is watched).
uint64_t BrinkTickNs();

}  // namespace allocwatch::preload
