// tests/unit/unwind_gate_test.cc: the fork handler's gate waits for the threads inside
// libunwind and holds new ones back until it opens; a thread is never held back by itself.
#include "preload/hooks/unwind_gate.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

namespace aw = allocwatch::preload;

namespace {

using Clock = std::chrono::steady_clock;

void WaitFor(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::yield();
}

TEST_CASE("unwind gate: closing waits for the thread inside, then holds new ones back",
          "[unwind_gate]") {
  aw::StartUnwindGate();
  std::atomic<bool> inside{false}, leave{false}, left{false};
  std::thread in([&] {
    aw::ThreadState& t = aw::CurrentThread();
    {
      aw::UnwindSection section(t);
      inside = true;
      WaitFor(leave);
    }
    left = true;
  });
  WaitFor(inside);
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    aw::CloseUnwindGate(aw::CurrentThread());
    closed = true;
    // Open again from this thread once a waiting thread was seen held back (below).
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(closed.load());  // the thread inside is waited for
  leave = true;
  WaitFor(closed);
  CHECK(left.load());

  // Closed: a thread that enters waits until the gate opens.
  std::atomic<bool> entered{false};
  std::thread late([&] {
    aw::UnwindSection section(aw::CurrentThread());
    entered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(entered.load());
  closer.join();  // its ThreadState's forking flag is its own; opening needs no particular one
  aw::OpenUnwindGate();
  WaitFor(entered);
  late.join();
  in.join();
}

TEST_CASE("unwind gate: a thread inside a section may close it, and enter again while closed",
          "[unwind_gate]") {
  aw::StartUnwindGate();
  aw::ThreadState& t = aw::CurrentThread();
  Clock::time_point start = Clock::now();
  {
    aw::UnwindSection outer(t);  // fork called from a signal handler that interrupted a section
    aw::CloseUnwindGate(t);
    {
      aw::UnwindSection inner(t);  // the forking thread itself is never held back
      CHECK(t.unwind_depth == 2);
    }
    aw::OpenUnwindGate();
  }
  CHECK(t.unwind_depth == 0);
  CHECK_FALSE(t.forking);
  // Neither call waited for its own thread (the 2 s bound would show).
  CHECK(Clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("unwind gate: a child after fork starts with the gate open and nobody inside",
          "[unwind_gate]") {
  aw::StartUnwindGate();
  std::atomic<bool> inside{false}, leave{false};
  std::thread in([&] {
    aw::UnwindSection section(aw::CurrentThread());
    inside = true;
    WaitFor(leave);
  });
  WaitFor(inside);
  // As in a child forked while that thread was inside (it does not exist there).
  aw::ThreadState& t = aw::CurrentThread();
  aw::ResetUnwindGateInChild(t);
  Clock::time_point start = Clock::now();
  aw::CloseUnwindGate(t);  // nobody to wait for
  CHECK(Clock::now() - start < std::chrono::seconds(1));
  aw::OpenUnwindGate();
  leave = true;
  in.join();
  aw::ResetUnwindGateInChild(t);  // the counts of this process again (the thread left)
}

}  // namespace
