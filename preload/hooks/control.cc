// preload/hooks/control.cc: see control.h.
#include "preload/hooks/control.h"

#include <time.h>

#include "preload/base/spinlock.h"
#include "preload/format/tail_format.h"
#include "preload/hooks/attach.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/tail_file.h"

namespace allocwatch::preload {

constinit const volatile uint32_t* g_control_request = nullptr;
constinit uint32_t g_control_done = 0;

namespace {

constinit Spinlock g_control_lock;

format::TailControl* Control() {
  format::TailHeader* tail = TailHeaderOrNull();
  if (tail == nullptr) return nullptr;
  return reinterpret_cast<format::TailControl*>(reinterpret_cast<char*>(tail) +
                                                format::kTailControlOffset);
}

void WriteControlRecord(uint32_t command, bool recording) {
  format::ControlRecord r{};
  r.header = format::MakeHeader(format::RecordType::kControl, sizeof(r));
  r.time_ns = NowNs();
  r.command = command;
  r.recording = recording ? 1 : 0;
  Writer().Append(&r, sizeof(r));
}

// On the timer thread of an attached process: the program's calls go back to the C library,
// calls already in a hook get a moment to leave it, the recording ends, and then ctl hears of
// it (the control page stays mapped after the tail file is removed).
void Detach(format::TailControl* c, uint32_t seq) {
  RestoreRoutes();
  timespec pause{0, 20 * 1000 * 1000};
  nanosleep(&pause, nullptr);
  ThreadState& t = CurrentThread();
  t.in_hook = false;  // the timer thread's guard, or FinishRecording would take it for reentry
  FinishRecording(format::kEndReasonDetach, -1, HeapFigures::kMeasure);
  t.in_hook = true;
  c->recording = 0;
  c->done_time_ns = NowNs();
  c->done_command = format::kControlDetach;
  __atomic_store_n(&c->done_seq, seq, __ATOMIC_RELEASE);
  g_control_done = seq;
}

}  // namespace

void InitControl(bool paused) {
  g_control_request = nullptr;
  g_control_done = 0;
  g_control_lock.ResetAfterFork();
  g_recorder.paused.store(paused, std::memory_order_relaxed);
  if (paused) WriteControlRecord(format::kControlReasonStartPaused, false);
  format::TailControl* c = Control();
  if (c == nullptr) return;
  c->recording = paused ? 0 : 1;
  __builtin_memcpy(c->magic, format::kControlMagic, sizeof(c->magic));
  g_control_done = __atomic_load_n(&c->request_seq, __ATOMIC_ACQUIRE);
  g_control_request = &c->request_seq;
}

void SetRecording(bool on, uint32_t command) {
  if (!on) FlushEventsWithClock();  // what was recorded so far goes before the record
  g_recorder.paused.store(!on, std::memory_order_relaxed);
  WriteControlRecord(command, on);
}

void PollControlSlow(HeapFigures figures) {
  format::TailControl* c = Control();
  if (c == nullptr || !g_control_lock.TryLock()) return;  // another thread is at it
  uint32_t seq = __atomic_load_n(&c->request_seq, __ATOMIC_ACQUIRE);
  if (seq != g_control_done) {
    uint32_t command = c->command;
    if (command == format::kControlStart && IsPaused()) {
      SetRecording(true, command);
    } else if (command == format::kControlStop && !IsPaused()) {
      SetRecording(false, command);
    } else if (command == format::kControlSnapshot) {
      WriteControlRecord(command, !IsPaused());
      SnapshotNow(figures);
    } else if (command == format::kControlDetach) {
      if (g_recorder.attached && !OnTimerThread()) {
        g_control_lock.Unlock();  // the timer thread detaches, outside every hook
        return;
      }
      if (g_recorder.attached) {
        Detach(c, seq);
        g_control_lock.Unlock();
        return;
      }
      command = 0;  // started with the library: nothing to detach (ctl stop stops recording)
    }
    c->recording = IsPaused() ? 0 : 1;
    c->done_time_ns = NowNs();
    c->done_command = command;
    __atomic_store_n(&c->done_seq, seq, __ATOMIC_RELEASE);
    g_control_done = seq;
  }
  g_control_lock.Unlock();
}

}  // namespace allocwatch::preload
