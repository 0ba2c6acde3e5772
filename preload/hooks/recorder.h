// preload/hooks/recorder.h: turns hooked calls into records.
//
// Hook-safe. Thread-safe. Every Record* function is called by interpose/ with the reentrancy
// guard held and errno already saved; none of them blocks on anything but short spinlocks.
// Lifecycle: StartRecording() from the library constructor; FinishRecording() at exit/_exit;
// fork and exec handled by the Fork*/OnExec functions.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <cstdint>

#include "preload/format/record_format.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

using format::Call;

// IsRecording() (recorder_state.h): true while events are being recorded (a relaxed load).

void StartRecording();
// allocwatch_attach (attach.h): begins a recording of a process that did not start with the
// library (or one attached before and detached since). Returns a format::env::kAttach* value.
// Not hook-safe: from the thread allocwatch attach borrowed, outside any hook.
int StartAttached(const char* settings);
// The timer thread (lifecycle.cc) says so at its start; OnTimerThread() is true on it only.
void SetTimerThread();
bool OnTimerThread();
// `figures`: kMeasure from exit(), kLastMeasured from _exit and _Exit (async-signal-safe).
void FinishRecording(uint32_t reason, int exit_status, HeapFigures figures);

// Heap events. RecordFree must run before the real free (so the address cannot be reused and
// recorded by another thread first).
// A new block is recorded in two steps, so the caller can take the stack from the program's
// call site (RecordNewBlock in allocation_hooks.h): this counts the allocation and decides
// whether it is sampled (and with which period)...
bool DecideSample(ThreadState& t, size_t size, uint64_t* period);
// A new block while recording is stopped (IsPaused): counted (and the sampler's countdown kept
// going), not recorded; the control block is polled and, without the timer thread, the
// snapshot taken when due.
void CountUnrecordedBlock(ThreadState& t, uint64_t size);
// ...then records it with its stack id (CallSiteStack).
inline constexpr size_t kUnwindFrames = format::kMaxStackDepth + 8;
void RecordSampledAlloc(ThreadState& t, Call call, const void* p, size_t size, uint64_t period,
                        uint32_t stack);

// Interns a stack of `n` return addresses from an unwind, allocwatch's own frames dropped, and
// writes its StackRecord the first time; returns its id (0 when out of memory).
uint32_t InternFrames(ThreadState& t, void* const* frames, int n);
void RecordFree(ThreadState& t, Call call, const void* p);

// realloc: BeginRealloc before the real call (records the free of `old`), EndRealloc after
// (the free in exact mode, or `old` put back when the call failed); the new block then goes
// through RecordNewBlock like any other.
struct ReallocTicket {
  bool tracked;
  uint64_t free_ticks;  // exact mode: the time of the free of `old`
  uint64_t size;
  uint32_t stack_id;
  uint16_t call;
};
ReallocTicket BeginRealloc(ThreadState& t, const void* old);
void EndRealloc(ThreadState& t, Call call, const void* old, const ReallocTicket& ticket,
                const void* result, size_t new_size);

// Mapping events. RecordMunmap runs before the real munmap.
void RecordMmap(ThreadState& t, Call call, const void* p, size_t length, int prot, int flags,
                int fd, uint64_t offset);
void RecordMunmap(ThreadState& t, const void* p, size_t length);
// After a successful mprotect / madvise: recorded only where it touches recorded mappings.
void RecordProtect(ThreadState& t, const void* p, size_t length, int prot);
void RecordAdvise(ThreadState& t, const void* p, size_t length, int advice);
void RecordMremap(ThreadState& t, const void* old_p, size_t old_length, const void* new_p,
                  size_t new_length, int flags);

// A failed call, written to the file before returning.
void RecordFailure(ThreadState& t, Call call, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                   int error, int64_t result);

// Module map changes after dlopen/dlclose.
void RecordModulesChanged();

// Process events.
void OnExec(const char* path);
void ForkPrepare();
void ForkParent();
void ForkChild();
// From the pthread_create interposer, before the thread is created: a sampled program that was
// single-threaded gets its timer thread now.
void OnThreadCreate();

}  // namespace allocwatch::preload
