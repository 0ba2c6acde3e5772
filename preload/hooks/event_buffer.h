// preload/hooks/event_buffer.h: per-thread buffers of compact heap events.
//
// Hook-safe. Thread-safe. Each thread appends its heap events (format/event_codec.h) to its own
// buffer without a lock (event_buffer.cc: an asymmetric handshake with flushers through
// membarrier(2); a per-buffer lock where that is unavailable). Other threads touch a buffer only
// to flush it (snapshots, failures, exec, exit), so the hot path takes no shared lock and writes
// no shared cache line.
// A full buffer goes to the writer as one EventsRecord. Events of different threads therefore
// reach the file out of order; their tick times (recorder_state.h) let the reader restore the
// order between two ClockRecords, which FlushEventsWithClock() writes after flushing every
// buffer.
//
// Buffers are mapped on a thread's first event and handed to a new thread when their thread
// exits. A thread past its exit hooks, or one that finds no buffer, appends to a shared
// overflow buffer instead.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/format/event_codec.h"
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

// At start-up: lets owners append without a lock where membarrier(2) allows it.
void EnableLockFreeAppends();

// To be called when the calling thread has read an event's time by itself (EventTicks()) for an
// event it appends later: its next exact event reads the clock too (its times never go back),
// and another thread loses the right to share time reads (see event_buffer.cc). AppendEvent
// calls it.
void NoteEventTime(ThreadState& t);

// Appends one event to the calling thread's buffer (see NoteEventTime).
void AppendEvent(ThreadState& t, format::Event event);

// Exact mode's fast path: appends an event timed now (EventTicks()) to the thread's buffer
// (t.event_buffer must be set, and t.tid) without building it elsewhere first. Leaves errno as
// it was. A thread that records alone and busily may time a run of events by one clock read
// (event_buffer.cc, g_stamp_epoch): never later than the truth, and in order.
void AppendExactEvent(ThreadState& t, format::EventKind kind, uint16_t call, uint64_t address,
                      uint64_t size, uint32_t stack_id);

// Whether the calling thread's next exact event reads the clock (AppendExactEvent): at every
// event of a thread that records sparsely or not alone, after every kStampRun-th of a busy one
// that records alone (event_buffer.cc, ExactStamp).
ALLOCWATCH_ALWAYS_INLINE bool NextExactEventReadsClock(const ThreadState& t) {
  return t.stamp_left == 0;
}

// Makes every thread read the clock for its next exact event (see event_buffer.cc,
// g_stamp_epoch): called before a ClockRecord's time is read.
void NewEventTimeEpoch();

// The timer thread's, each tick in exact mode: when one thread alone recorded since the last
// tick, lets it share time reads among its events (see event_buffer.cc, g_stamp_owner).
void ChooseEventTimeOwner();

// Sends every buffer's events to the writer (each under its own lock).
void FlushAllEventBuffers();

// At thread exit: flushes the thread's buffer and gives it back.
void ReleaseEventBuffer(ThreadState& t);

// In a fork child: drops every buffer's contents (the parent writes them) and frees them all;
// each is private memory again (never the parent's tail).
void ResetEventBuffersInChild(ThreadState& t);

// In a fork child whose tail file is open, or a process attached again: every buffer becomes
// a slot of the new tail file (they are empty; their owners keep them).
void MoveEventBuffersToTail();

}  // namespace allocwatch::preload
