// preload/hooks/session.h: the recording's settings and its file.
//
// Not hook-safe in ReadConfig (getenv; called once from the library constructor or attach). The
// rest is hook-safe: OpenRecording uses only raw system calls and fixed buffers, so it also runs in
// a fork child.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

namespace allocwatch::preload {

struct Config {
  uint64_t sample_bytes = 512 * 1024;  // 1 = exact (Exact())
  uint64_t interval_ns = 1000000000;
  // In sampled mode the period doubles after an interval in which writing the recording took
  // more than this share of the time (ALLOCWATCH_WRITE_BUDGET_PERCENT).
  uint32_t write_budget_percent = 5;
  uint64_t session_id = 0;
  uint32_t only_pid = 0;  // when set, only this process records (--no-children)
  // ALLOCWATCH_CALL_SITE_CACHE=0 unwinds every recorded allocation (to check the cache against).
  bool call_site_cache = true;
  // Headroom thresholds, percent of a limit, largest first (ALLOCWATCH_BRINK_PERCENT; brink.h);
  // none when brink_count is 0.
  static constexpr int kMaxBrinks = 4;
  uint32_t brink_percent[kMaxBrinks] = {10, 5, 2, 0};
  int brink_count = 3;
  char output_dir[1024] = ".";
  bool paused = false;    // ALLOCWATCH_PAUSED=1: recording starts off (control.h)
  bool attached = false;  // read from allocwatch_attach's settings (attach.h)

  // The one test of exact mode (IsExactMode() in recorder_state.h for the running process).
  bool Exact() const { return sample_bytes <= 1; }
};

// Reads ALLOCWATCH_* variables and makes the output directory absolute. Returns false (and
// logs why) when recording must stay off; under secure execution (AT_SECURE) it returns false
// at once, without reading the environment or logging. With `settings` (allocwatch_attach's
// "NAME=VALUE" lines) the variables are read there instead of the environment.
bool ReadConfig(Config* config, const char* settings = nullptr);

// Creates the recording file (O_EXCL, mode 0600) and writes its header and process record.
// Returns the descriptor or -1 (after logging why).
int OpenRecording(const Config& config, uint64_t start_monotonic_ns, bool fork_child);

}  // namespace allocwatch::preload
