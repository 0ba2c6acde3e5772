// preload/hooks/unwind_gate.h: no thread is inside libunwind when the process forks.
//
// Hook-safe. Debian's libunwind (1.6) is built without per-thread caches: each step of its full
// cursor (and each frame its trace cache cannot follow) takes the mutex of its global cache,
// with every signal masked. A fork while another thread held that mutex left it held in the
// child, whose first such step then waited forever. Every call into libunwind is made inside an
// UnwindSection; the fork handler closes the gate and waits until no other thread is inside, so
// the child inherits the mutex free. A section takes no lock: threads count themselves in
// striped counters, so unwinding threads never wait for each other, only for a fork under way.
//
// Nothing is held while a thread waits at the closed gate (callers take no allocwatch lock
// around their unwinding), and nothing inside a section waits for allocwatch: the fork handler
// closes the gate before it takes the tables' locks.
#pragma once
#include "preload/base/hook_safe.h"

#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

namespace unwind_gate {
void Enter(ThreadState& t);
void Leave(ThreadState& t);
}  // namespace unwind_gate

// Scope of one call into libunwind.
class UnwindSection {
 public:
  explicit UnwindSection(ThreadState& t) : t_(t) { unwind_gate::Enter(t_); }
  ~UnwindSection() { unwind_gate::Leave(t_); }
  UnwindSection(const UnwindSection&) = delete;
  UnwindSection& operator=(const UnwindSection&) = delete;

 private:
  ThreadState& t_;
};

// At start-up, before the first section: the process the counts belong to.
void StartUnwindGate();

// The fork handlers (lifecycle.cc). Close: new sections wait, and it returns once no other
// thread is inside one (the calling thread's own sections, should fork be called from a signal
// handler that interrupted one, are not waited for), or after 2 s: a thread that stays inside
// that long is stuck elsewhere, and waiting on would hang the fork too. Open: in the parent after
// the fork. ResetInChild: the only thread left is the caller.
void CloseUnwindGate(ThreadState& t);
void OpenUnwindGate();
void ResetUnwindGateInChild(ThreadState& t);

}  // namespace allocwatch::preload
