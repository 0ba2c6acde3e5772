// preload/hooks/unwind_gate.cc: see unwind_gate.h.
#include "preload/hooks/unwind_gate.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "preload/base/raw_io.h"
#include "preload/base/spinlock.h"

namespace allocwatch::preload {
namespace {

constexpr int kStripes = 16;

struct alignas(64) Stripe {
  std::atomic<int64_t> inside{0};
};

constinit Stripe g_stripes[kStripes];
// Forks under way (two threads may fork at once).
constinit std::atomic<uint32_t> g_closed{0};
// The process the counts belong to. A child made by a raw clone system call (Chromium's
// ForkWithFlags) runs no fork handler: it inherits the counts of threads it does not have, and
// finds its pid changed.
constinit std::atomic<int> g_pid{0};
// How long a fork waits for the other threads to leave libunwind (a step takes microseconds;
// a preempted thread may take a scheduler's while) before it goes on regardless.
constexpr uint64_t kMaxWaitNs = 2'000'000'000;

Stripe& StripeOf(const ThreadState& t) {
  // Each thread's TLS block has its own address; a multiplicative hash spreads them.
  auto a = reinterpret_cast<uintptr_t>(&t) >> 6;
  return g_stripes[(a * 0x9E3779B97F4A7C15ULL) >> 60];
}

// In a child of a raw clone: only the calling thread exists, the gate is open.
void ResetCounts(ThreadState& t, int pid) {
  for (Stripe& s : g_stripes) s.inside.store(0, std::memory_order_relaxed);
  StripeOf(t).inside.store(t.unwind_depth, std::memory_order_relaxed);
  g_closed.store(0, std::memory_order_relaxed);
  g_pid.store(pid, std::memory_order_relaxed);
}

}  // namespace

namespace unwind_gate {

void Enter(ThreadState& t) {
  Stripe& s = StripeOf(t);
  for (int spins = 0;;) {
    // Counted first, then the gate looked at (both sequentially consistent, as in
    // CloseUnwindGate): either the closer sees this thread inside, or this thread sees the gate
    // closed.
    s.inside.fetch_add(1, std::memory_order_seq_cst);
    // Inside already (a signal handler that interrupted a section), or the thread that is
    // forking: waiting would wait for itself.
    if (t.unwind_depth > 0 || t.forking || g_closed.load(std::memory_order_seq_cst) == 0) break;
    s.inside.fetch_sub(1, std::memory_order_relaxed);
    int pid = getpid();
    if (pid != g_pid.load(std::memory_order_relaxed)) {
      ResetCounts(t, pid);  // a raw clone's child, of a process that was forking
      continue;
    }
    while (g_closed.load(std::memory_order_acquire) != 0) SpinPause(spins);
  }
  ++t.unwind_depth;
}

void Leave(ThreadState& t) {
  --t.unwind_depth;
  StripeOf(t).inside.fetch_sub(1, std::memory_order_release);
}

}  // namespace unwind_gate

void StartUnwindGate() { g_pid.store(getpid(), std::memory_order_relaxed); }

void CloseUnwindGate(ThreadState& t) {
  int pid = getpid();
  if (pid != g_pid.load(std::memory_order_relaxed)) ResetCounts(t, pid);
  t.forking = true;
  g_closed.fetch_add(1, std::memory_order_seq_cst);
  uint64_t deadline = 0;
  for (int spins = 0;;) {
    int64_t inside = 0;
    for (Stripe& s : g_stripes) inside += s.inside.load(std::memory_order_seq_cst);
    if (inside <= static_cast<int64_t>(t.unwind_depth)) return;
    if (spins == 0) {  // after each yield
      uint64_t now = MonotonicNs();
      if (deadline == 0) deadline = now + kMaxWaitNs;
      if (now > deadline) return;
    }
    SpinPause(spins);
  }
}

void OpenUnwindGate() {
  CurrentThread().forking = false;
  g_closed.fetch_sub(1, std::memory_order_release);
}

void ResetUnwindGateInChild(ThreadState& t) {
  t.forking = false;
  ResetCounts(t, getpid());
}

}  // namespace allocwatch::preload
