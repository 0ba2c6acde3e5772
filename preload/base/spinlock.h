// preload/base/spinlock.h: a test-and-test-and-set lock that never allocates.
//
// Hook-safe. Thread-safe. Not reentrant: a hook holding it must not be re-entered on the same
// thread (the per-thread reentrancy guard makes allocations made while it is held pass through).
// After fork() the child calls ResetAfterFork() on every lock it may have inherited held.
#pragma once
#include "preload/base/hook_safe.h"

#include <sched.h>

#include <atomic>

namespace allocwatch::preload {

// One turn of a wait for another thread: a pause instruction, and every 64th turn the CPU
// given up (sched_yield), `spins` counting the turns.
inline void SpinPause(int& spins) {
  if (++spins > 64) {
    sched_yield();
    spins = 0;
  } else {
    __builtin_ia32_pause();
  }
}

class Spinlock {
 public:
  void Lock() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) SpinPause(spins);
    }
  }
  // Takes the lock when it is free; never waits.
  bool TryLock() {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void Unlock() { locked_.store(false, std::memory_order_release); }
  void ResetAfterFork() { locked_.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool> locked_{false};
};

class SpinlockHolder {
 public:
  explicit SpinlockHolder(Spinlock& lock) : lock_(lock) { lock_.Lock(); }
  ~SpinlockHolder() { lock_.Unlock(); }
  SpinlockHolder(const SpinlockHolder&) = delete;
  SpinlockHolder& operator=(const SpinlockHolder&) = delete;

 private:
  Spinlock& lock_;
};

}  // namespace allocwatch::preload
