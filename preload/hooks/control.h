// preload/hooks/control.h: recording turned on and off while the process runs (allocwatch run
// --paused, allocwatch ctl PID start|stop|snapshot), through the control block of the tail file
// (format/tail_format.h, TailControl): no signal and no thread of allocwatch's.
//
// Hook-safe: loads and stores in the shared page, a try-lock, and the writer. Commands are
// carried out by PollControl, which the timer thread calls at each tick (every 100 ms at most)
// and recorded calls call in processes without it; a stopped process calls it on each
// allocation, so a start is seen at once.
#pragma once
#include "preload/base/hook_safe.h"

#include "preload/hooks/recorder_state.h"

namespace allocwatch::preload {

// After the tail file is open (BeginProcess, in a fork child too): marks the control block as
// served and, for a process that starts stopped (config.paused, or a fork child of a stopped
// one), writes a ControlRecord saying so.
void InitControl(bool paused);

// Carries out a command ctl wrote since the last call, if any: one load of the shared page
// when there is none. `figures`: whether a snapshot may measure the C library's heap here.
void PollControlSlow(HeapFigures figures);
ALLOCWATCH_ALWAYS_INLINE void PollControl(HeapFigures figures) {
  extern const volatile uint32_t* g_control_request;
  extern uint32_t g_control_done;
  if (g_control_request != nullptr &&
      ALLOCWATCH_UNLIKELY(__atomic_load_n(g_control_request, __ATOMIC_ACQUIRE) != g_control_done)) {
    PollControlSlow(figures);
  }
}

// Recording turned on or off here (the ControlRecord and the shared state).
void SetRecording(bool on, uint32_t command);

}  // namespace allocwatch::preload
