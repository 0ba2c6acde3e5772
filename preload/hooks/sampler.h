// preload/hooks/sampler.h: decides which allocations are recorded with their stack.
//
// Hook-safe. Per-thread state only. Byte sampling with mean period T (preload/FORMAT.md, which
// allocations are recorded): each thread counts down an exponentially distributed number of bytes;
// an allocation of s bytes is sampled with probability 1-exp(-s/T). Allocations of s >= T are
// always sampled. T == 1 records every allocation (exact mode).
#pragma once
#include "preload/base/hook_safe.h"

#include <cmath>
#include <cstdint>

#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

class Sampler {
 public:
  // A uniform draw in (0, 1] from a xorshift64* generator.
  static double Uniform(uint64_t& state) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t r = state * 0x2545F4914F6CDD1DULL;
    return (static_cast<double>(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  }

  static int64_t DrawCountdown(uint64_t& state, uint64_t period) {
    double bytes = -std::log(Uniform(state)) * static_cast<double>(period);
    if (bytes > 9.0e18) bytes = 9.0e18;
    return static_cast<int64_t>(bytes) + 1;
  }

  static void Seed(ThreadState& t, uint64_t seed, uint64_t period) {
    t.rng_state = seed == 0 ? 0x9E3779B97F4A7C15ULL : seed;
    t.bytes_until_sample = DrawCountdown(t.rng_state, period);
    t.countdown_period = period;
  }

  // The countdown, the one place it is decremented: true when the allocation of `size` bytes
  // is not sampled (it is below `period` and the countdown stays positive), which takes the
  // bytes off the countdown. False leaves the countdown as it was: the allocation is sampled
  // (ShouldSample redraws it), or `period` is 0, which the fast path (hot_path.h) uses to send
  // a thread's every allocation to ShouldSample.
  ALLOCWATCH_ALWAYS_INLINE static bool CountDown(ThreadState& t, uint64_t size, uint64_t period) {
    int64_t left = t.bytes_until_sample - static_cast<int64_t>(size);
    if (ALLOCWATCH_UNLIKELY(left <= 0 || size >= period)) return false;
    t.bytes_until_sample = left;
    return true;
  }

  // True when the allocation of `size` bytes is to be recorded; *sampled_with is then the
  // period T its probability was drawn with (the reader weighs it by 1/(1-exp(-size/T)), or 1
  // when size >= T). Allocations of at least T bytes are always recorded and leave the
  // countdown alone. `period` 1 (exact mode) records everything. Afterwards the thread's
  // fast_threshold follows the countdown's period when `fast` (see ThreadState), else it is 0.
  ALLOCWATCH_ALWAYS_INLINE static bool ShouldSample(ThreadState& t, uint64_t size, uint64_t period,
                                                    uint64_t seed, bool fast,
                                                    uint64_t* sampled_with) {
    if (period <= 1) {
      *sampled_with = 1;
      t.fast_threshold = 0;
      return true;
    }
    if (ALLOCWATCH_UNLIKELY(t.rng_state == 0)) Seed(t, seed, period);
    *sampled_with = t.countdown_period;
    bool sampled = !CountDown(t, size, t.countdown_period);
    if (sampled && size < t.countdown_period) {
      // Memoryless: the next countdown uses the current period (it may have changed).
      t.bytes_until_sample = DrawCountdown(t.rng_state, period);
      t.countdown_period = period;
    }
    t.fast_threshold = fast ? t.countdown_period : 0;
    return sampled;
  }
};

}  // namespace allocwatch::preload
