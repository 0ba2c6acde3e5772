// preload/hooks/control.cc: see control.h.
#include "preload/hooks/control.h"

#include "preload/base/spinlock.h"
#include "preload/format/tail_format.h"
#include "preload/hooks/record_writer.h"
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
