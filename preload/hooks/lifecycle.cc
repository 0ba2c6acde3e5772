// preload/hooks/lifecycle.cc: start, snapshots, exit, fork and exec of the recording.
#include <dlfcn.h>
#include <libunwind.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include "preload/base/raw_io.h"
#include "preload/base/spinlock.h"
#include "preload/format/environment.h"
#include "preload/hooks/attach.h"
#include "preload/hooks/brink.h"
#include "preload/hooks/control.h"
#include "preload/hooks/counters.h"
#include "preload/hooks/event_buffer.h"
#include "preload/hooks/failure_headroom.h"
#include "preload/hooks/hot_path.h"
#include "preload/hooks/module_map.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/stack_bounds.h"
#include "preload/hooks/tail_file.h"
#include "preload/hooks/unwind_gate.h"
#include "preload/procfs/headroom.h"

namespace allocwatch::preload {
namespace {

using format::RecordType;

uint64_t g_live_written = 0;
// Where the current snapshot interval began, and the writer's time spent writing by then: what
// AdaptPeriod measures against. Used by one thread at a time: the timer thread, or (without it)
// the event that takes the snapshot.
uint64_t g_interval_start_ns = 0;
uint64_t g_interval_write_ns = 0;

void BeginInterval() {
  g_interval_start_ns = NowNs();
  g_interval_write_ns = Writer().write_ns();
}

bool TablesReady() { return g_recorder.stacks.get() != nullptr; }

// glibc's in-use heap figure, when the real malloc is glibc's (another allocator in the
// program answers for its own heap, which glibc's mallinfo2 does not see).
using Mallinfo2Fn = struct mallinfo2 (*)();
Mallinfo2Fn g_mallinfo2 = nullptr;
// The malloc the program's calls reach first is not allocwatch's: the executable (or a library
// loaded before liballocwatch.so) defines its own, and allocwatch sees none of its heap.
bool g_foreign_malloc = false;

void ResolveHeapFigures() {
  Dl_info first_info{}, own_info{};
  void* first = dlsym(RTLD_DEFAULT, "malloc");
  // Attached, the program's malloc is the C library's (StartAttached checks), not ours.
  if (!g_recorder.attached && first != nullptr && dladdr(first, &first_info) != 0 &&
      dladdr(reinterpret_cast<void*>(&ResolveHeapFigures), &own_info) != 0 &&
      first_info.dli_fbase != own_info.dli_fbase) {
    g_foreign_malloc = true;
  }
  void* fn = dlsym(RTLD_NEXT, "mallinfo2");
  Dl_info malloc_info{}, mallinfo_info{};
  if (fn == nullptr || dladdr(reinterpret_cast<void*>(Real().malloc), &malloc_info) == 0 ||
      dladdr(fn, &mallinfo_info) == 0 || malloc_info.dli_fbase != mallinfo_info.dli_fbase) {
    return;
  }
  g_mallinfo2 = reinterpret_cast<Mallinfo2Fn>(fn);
}

// The last mallinfo2 figures: in use (uordblks + hblkhd, the snapshot's heap_in_use_bytes),
// and each field a MemoryRecord carries.
constinit std::atomic<uint64_t> g_last_heap_in_use{0};
constinit std::atomic<uint64_t> g_last_arena{0}, g_last_free{0}, g_last_uord{0}, g_last_hblkhd{0},
    g_last_keepcost{0};

// mallinfo2 takes every arena's lock. It is called only where this thread cannot hold one:
// the timer thread, the malloc family's hooks (glibc's allocator is not reentrant: a program
// cannot call malloc while its thread holds an arena lock) and exit(). Where the caller may be
// a signal handler that interrupted the allocator (mmap & co. and _exit are async-signal-safe)
// the last figure measured is repeated.
// noinline: preload/base/hook_safe_calls.txt names it.
__attribute__((noinline)) uint64_t HeapInUse(HeapFigures figures) {
  if (g_mallinfo2 == nullptr) return 0;
  if (figures == HeapFigures::kLastMeasured) {
    return g_last_heap_in_use.load(std::memory_order_relaxed);
  }
  struct mallinfo2 mi = g_mallinfo2();
  uint64_t in_use = mi.uordblks + mi.hblkhd;
  g_last_heap_in_use.store(in_use, std::memory_order_relaxed);
  g_last_arena.store(mi.arena, std::memory_order_relaxed);
  g_last_free.store(mi.fordblks, std::memory_order_relaxed);
  g_last_uord.store(mi.uordblks, std::memory_order_relaxed);
  g_last_hblkhd.store(mi.hblkhd, std::memory_order_relaxed);
  g_last_keepcost.store(mi.keepcost, std::memory_order_relaxed);
  return in_use;
}

// Resident memory at the last arena count, and that count: /proc/self/maps is read again only
// when resident memory grew by a quarter since (or at the end), which keeps most snapshots to
// one read of /proc/self/status.
uint64_t g_rss_at_arena_count = 0;
uint32_t g_arenas = 0;
bool g_arenas_known = false;

// Where the resident memory is, after a snapshot that measured the heap figures (HeapInUse).
void WriteMemory(uint64_t now, bool final) {
  format::MemoryRecord m{};
  m.header = format::MakeHeader(RecordType::kMemory, sizeof(m));
  m.time_ns = now;
  if (ReadStatusMemory(FsRoot(), &m)) m.flags |= format::kMemoryFlagStatus;
  // The program's threads: allocwatch's timer thread is not one of them.
  if (m.threads > 0 && g_recorder.timer_thread.load(std::memory_order_relaxed)) --m.threads;
  if (g_foreign_malloc) m.flags |= format::kMemoryFlagForeignMalloc;
  if (g_mallinfo2 != nullptr && !g_foreign_malloc) {
    m.flags |= format::kMemoryFlagMallinfo;
    m.arena_bytes = g_last_arena.load(std::memory_order_relaxed);
    m.arena_free_bytes = g_last_free.load(std::memory_order_relaxed);
    m.arena_in_use_bytes = g_last_uord.load(std::memory_order_relaxed);
    m.heap_mmapped_bytes = g_last_hblkhd.load(std::memory_order_relaxed);
    m.releasable_bytes = g_last_keepcost.load(std::memory_order_relaxed);
    const uint64_t rss = m.rss_anon_bytes + m.rss_file_bytes + m.rss_shmem_bytes;
    if (final || !g_arenas_known || rss > g_rss_at_arena_count + g_rss_at_arena_count / 4) {
      uint64_t heaps = 0;
      if (CountArenaHeaps(FsRoot(), &heaps)) {
        g_arenas = static_cast<uint32_t>(1 + heaps);
        g_arenas_known = true;
        g_rss_at_arena_count = rss;
      }
    }
    if (g_arenas_known) {
      m.flags |= format::kMemoryFlagArenas;
      m.arenas = g_arenas;
    }
  }
  const MappingTable& maps = *g_recorder.mappings.get();
  m.mapped_anon_bytes = maps.bytes(kMappedAnon);
  m.mapped_file_bytes = maps.bytes(kMappedFile);
  m.mapped_shared_bytes = maps.bytes(kMappedShared);
  m.mapped_reserved_bytes = maps.bytes(kMappedReserved);
  Writer().Append(&m, sizeof(m));
}

// `headroom`: a snapshot of the headroom taken just before, to write with it (else one is taken
// when the last was 100 ms ago or more).
void WriteSnapshot(HeapFigures figures, bool final = false, HeadroomSnapshot* headroom = nullptr) {
  uint64_t now = NowNs();
  FlushEventsWithClock();
  RescanModules(now);
  CounterTotals totals = SumCounters();
  format::SnapshotRecord r{};
  r.header = format::MakeHeader(RecordType::kSnapshot, sizeof(r));
  r.time_ns = now;
  r.heap_allocated_bytes = totals.allocated_bytes;
  r.heap_in_use_bytes = HeapInUse(figures);
  r.alloc_calls = totals.alloc_calls;
  r.free_calls = totals.free_calls;
  r.mmap_live_bytes = g_recorder.mappings->live_bytes();
  r.vm_size_bytes = StatmBytes(&r.rss_bytes);
  r.lost_events = Writer().lost_records();
  Writer().Append(&r, sizeof(r));
  WriteMemory(now, final);
  AppendPeriodicHeadroom(now, headroom);
}

// In sampled mode, doubles the period when writing took more than its budget of the last
// interval: the program never waits on a recording that cannot keep up for long.
void AdaptPeriod() {
  uint64_t period = g_hot.period.load(std::memory_order_relaxed);
  if (IsExactMode() || period >= (uint64_t{1} << 30)) return;
  uint64_t now = NowNs();
  uint64_t interval = now > g_interval_start_ns ? now - g_interval_start_ns : 1;
  uint64_t written = Writer().write_ns() - g_interval_write_ns;
  if (written * 100 <= interval * g_recorder.config.write_budget_percent) return;
  uint64_t doubled = period * 2;
  g_hot.period.store(doubled, std::memory_order_relaxed);
  format::PeriodRecord r{};
  r.header = format::MakeHeader(RecordType::kPeriod, sizeof(r));
  r.time_ns = now;
  r.old_sample_bytes = period;
  r.new_sample_bytes = doubled;
  r.write_ns = written;
  r.interval_ns = interval;
  r.reason = format::kPeriodReasonWriteTime;
  Writer().Append(&r, sizeof(r), /*flush=*/true);
}

// A snapshot at the end of an interval: written and flushed, the period adapted to the time
// writing took, and the next interval begun.
void PeriodicSnapshot(HeapFigures figures) {
  WriteSnapshot(figures);
  Writer().Flush();
  AdaptPeriod();
  BeginInterval();
}

// Heap events are flushed (with a ClockRecord) at least this often, so a reader never holds
// more than this much time's worth of events to put them in order.
constexpr uint64_t kEventFlushNs = 100 * 1000 * 1000;

void* TimerThread(void*) {
  CurrentThread().in_hook = true;  // nothing this thread does is recorded
  const uint32_t run = g_recorder.runs.load();
  const uint64_t interval = g_recorder.config.interval_ns;
  const uint64_t flush_tick = interval < kEventFlushNs ? interval : kEventFlushNs;
  uint64_t next_snapshot = NowNs() + interval;
  uint64_t next_flush = NowNs() + flush_tick;
  SetTimerThread();
  auto mine = [run] { return IsRecording() && g_recorder.runs.load() == run; };
  while (mine()) {
    // Woken for the next flush or snapshot, or sooner to watch the headroom (brink.h).
    uint64_t now = NowNs();
    uint64_t wake = next_flush < next_snapshot ? next_flush : next_snapshot;
    uint64_t brink_tick = BrinkTickNs();
    if (brink_tick != UINT64_MAX && now + brink_tick < wake) wake = now + brink_tick;
    uint64_t tick = wake > now ? wake - now : 0;
    timespec ts{static_cast<time_t>(tick / 1000000000), static_cast<long>(tick % 1000000000)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (!mine()) break;
    // Attached: modules loaded since the last tick have their calls routed here too.
    if (g_recorder.attached) RouteNewModules();
    PollControl(HeapFigures::kMeasure);
    if (!mine()) break;  // detached
    if (g_brink.armed.load(std::memory_order_relaxed)) CheckBrink(HeapFigures::kMeasure);
    now = NowNs();
    const bool flush_due = now + 1'000'000 >= next_flush;
    // Each flush tick, in exact mode: a thread found recording alone may share time reads.
    if (IsExactMode() && flush_due) ChooseEventTimeOwner();
    if (now + flush_tick / 2 < next_snapshot) {
      if (flush_due) {
        FlushEventsWithClock();
        // To the file too (a write every 100 ms): what follows it, the background replay and
        // symbolization of `allocwatch run` or `allocwatch report --follow`, sees the new
        // stacks and events now, not at the next snapshot.
        Writer().Flush();
        next_flush = now + flush_tick;
      }
      continue;
    }
    next_flush = now + flush_tick;
    PeriodicSnapshot(HeapFigures::kMeasure);
    next_snapshot = g_interval_start_ns + interval;
  }
  if (g_recorder.runs.load() == run) g_recorder.timer_thread.store(false);
  return nullptr;
}

constinit std::atomic<uint32_t> g_timer_tid{0};

// noinline: preload/base/hook_safe_calls.txt names it.
__attribute__((noinline)) void StartTimerThread() {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the thread must never take the program's signals
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  g_recorder.timer_thread.store(Real().pthread_create(&thread, &attr, TimerThread, nullptr) == 0);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// How a recording begins: with the program, in a fork child, or attached again after a detach
// (the threads keep their buffers and caches; the tables start empty).
enum class Begin { kProgram, kForkChild, kAttachedAgain };

// Opens this process's recording and writes what precedes the first event.
bool BeginProcess(Begin begin) {
  const bool fork_child = begin == Begin::kForkChild;
  g_recorder.runs.fetch_add(1);
  g_recorder.start_ns = MonotonicNs();
  g_recorder.pid = static_cast<uint32_t>(getpid());
  g_recorder.seed = g_recorder.start_ns * 0x9E3779B97F4A7C15ULL ^ g_recorder.pid;
  if (OpenRecording(g_recorder.config, g_recorder.start_ns, fork_child) < 0) return false;
  if (format::TailHeader* tail = TailHeaderOrNull()) {
    tail->tick_source = g_use_tsc ? format::kTickSourceTsc : format::kTickSourceMonotonic;
  }
  if (begin != Begin::kProgram) MoveEventBuffersToTail();
  // One reading of the headroom serves the brink watch's limits and the first snapshot.
  HeadroomSnapshot headroom;
  TakeHeadroom(FsRoot(), 0, /*scan_maps=*/false, &headroom);
  SetUpBrink(headroom);
  // A fork child keeps its parent's state; a new program starts as ALLOCWATCH_PAUSED says.
  InitControl(fork_child ? IsPaused() : g_recorder.config.paused);
  RescanModules(0);
  WriteSnapshot(HeapFigures::kMeasure, /*final=*/false, &headroom);
  Writer().Flush();
  BeginInterval();
  g_recorder.next_snapshot_ns.store(g_recorder.config.interval_ns, std::memory_order_relaxed);
  return true;
}

void WriteLiveList() {
  constexpr uint32_t kBatch = 1024;
  format::LiveEntry entries[kBatch];
  uint32_t n = 0;
  auto flush = [&] {
    if (n == 0) return;
    format::LiveRecord r{};
    r.header = format::MakeHeader(RecordType::kLive, sizeof(r) + n * sizeof(format::LiveEntry));
    r.count = n;
    Chunk chunks[2] = {{&r, sizeof(r)}, {entries, n * sizeof(format::LiveEntry)}};
    Writer().Append(chunks, 2);
    n = 0;
  };
  uint64_t total = 0;
  auto add = [&](uint64_t address, const LiveBlock& b, uint16_t kind) {
    entries[n++] = format::LiveEntry{address, b.size, b.stack_id, kind, b.call};
    ++total;
    if (n == kBatch) flush();
  };
  // The heap table's shard locks are held while `add` runs; it only appends to the writer.
  g_recorder.heap->ForEach(
      [&](uint64_t a, const LiveBlock& b) { add(a, b, format::kLiveKindHeap); });
  flush();
  g_recorder.mappings->ForEach([&](uint64_t a, const LiveBlock& b) {
    add(a, b, (b.kind & kMappingReserved) ? format::kLiveKindReserved : format::kLiveKindMmap);
  });
  flush();
  g_live_written = total;
}

}  // namespace

uint64_t g_page_size = 4096;
constinit HotConfig g_hot;

uint64_t StatmBytes(uint64_t* resident) {
  char buf[128];
  *resident = 0;
  if (ReadSmallFile("/proc/self/statm", buf, sizeof(buf)) <= 0) return 0;
  const char* p = buf;
  uint64_t pages = ParseDecimal(p);
  while (*p == ' ') ++p;
  *resident = ParseDecimal(p) * g_page_size;
  return pages * g_page_size;
}

void WriteBrink(format::BrinkRecord& r, HeapFigures figures) {
  FlushEventsWithClock();
  r.header = format::MakeHeader(RecordType::kBrink, sizeof(r));
  r.time_ns = NowNs();
  r.vm_size_bytes = StatmBytes(&r.rss_bytes);
  r.heap_in_use_bytes = HeapInUse(figures);
  r.mmap_live_bytes = g_recorder.mappings->live_bytes();
  AppendBrinkWithHeadroom(r);
}

namespace {

// Unsampled allocations and frees of unrecorded blocks skip the recorder from now on.
void EnableHotPath() {
  g_hot.period.store(g_recorder.config.sample_bytes, std::memory_order_release);
}

}  // namespace

// Without the timer thread, the event that finds the interval over takes the snapshot.
void MaybeSnapshot(uint64_t now_ns, HeapFigures figures) {
  if (g_recorder.timer_thread.load(std::memory_order_relaxed)) return;
  PollControl(figures);
  uint64_t due = g_recorder.next_snapshot_ns.load(std::memory_order_relaxed);
  if (now_ns < due) return;
  uint64_t next = now_ns + g_recorder.config.interval_ns;
  if (!g_recorder.next_snapshot_ns.compare_exchange_strong(due, next)) return;
  PeriodicSnapshot(figures);
}

void SnapshotNow(HeapFigures figures) { PeriodicSnapshot(figures); }

void SetTimerThread() { g_timer_tid.store(CurrentTid()); }
bool OnTimerThread() { return g_timer_tid.load() == CurrentTid(); }

// The program is creating a thread of its own: glibc's allocator will take its locks from now
// on, and a timer thread of ours costs it nothing more (see StartRecording). Started here, in
// the program's own pthread_create call, never from inside an allocation hook (pthread_create
// takes loader and stack-cache locks that the interrupted code may hold).
void OnThreadCreate() {
  if (!IsRecording() || g_recorder.fork_child ||
      g_recorder.timer_thread.load(std::memory_order_relaxed)) {
    return;
  }
  HookGuard guard;  // the new thread's TLS and stack are not the program's allocations
  if (guard.Reentered()) return;
  static constinit Spinlock starting;
  SpinlockHolder hold(starting);
  if (!g_recorder.timer_thread.load(std::memory_order_relaxed)) StartTimerThread();
}

namespace {

// Drops the last recording's writer, tail file, tables and module list, before a new recording
// begins in the same address space (a fork child, or a process attached again). No other
// thread may be in a hook.
void ForgetRecording() {
  Writer().ResetInChild();
  ForgetTailInChild();
  g_recorder.mappings->ResetInChild();
  g_recorder.heap->ResetInChild();
  g_recorder.stacks->ResetInChild();
  ForgetModulesInChild();
}

// What a process's first recording needs once, whether it starts with the program or at attach.
void SetUpRecorder() {
  g_page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  LearnStackBounds(CurrentThread());  // the loading thread's; new threads learn theirs
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  StartUnwindGate();
  ChooseEventClock();
  SelfCodeRange(&g_recorder.self_start, &g_recorder.self_end);
  g_recorder.stacks.Construct();
  g_recorder.heap.Construct();
  g_recorder.mappings.Construct();
  InitCounters();
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
}

}  // namespace

void StartRecording() {
  HookGuard guard;
  if (g_recorder.state.load() != RecorderState::kOff) return;
  if (!ReadConfig(&g_recorder.config)) {
    g_recorder.state.store(RecorderState::kDisabled);
    return;
  }
  SetFsRoot(getenv(format::env::kFsRoot));
  SetUpRecorder();
  if (!BeginProcess(Begin::kProgram)) {
    g_recorder.state.store(RecorderState::kDisabled);
    return;
  }
  ResolveHeapFigures();
  EnableLockFreeAppends();
  EnableHotPath();
  g_recorder.state.store(RecorderState::kRecording);
  // A second thread makes glibc's malloc and free take their arena locks (a locked instruction
  // on every call that misses the thread cache: about 7 % of an allocation-heavy single-threaded
  // program here). And a process that checks it is single-threaded before it forks (Chromium's
  // zygote counts /proc/self/task, and aborts with SIGTRAP) must find no thread of ours. So a
  // single-threaded program gets no timer thread, in either mode: its own recorded calls take
  // the snapshots when the interval is over (MaybeSnapshot; in exact mode through the slow
  // path), until it creates a thread (OnThreadCreate).
  if (!__libc_single_threaded) StartTimerThread();
}

int StartAttached(const char* settings) {
  HookGuard guard;
  const int state = g_recorder.state.load();
  const bool again =
      state == RecorderState::kFinished && g_recorder.attached && !g_recorder.timer_thread.load();
  if (state != RecorderState::kOff && !again) return format::env::kAttachAlreadyRecording;
  if (Real().malloc != reinterpret_cast<void* (*)(size_t)>(dlsym(RTLD_DEFAULT, "malloc"))) {
    return format::env::kAttachForeignMalloc;
  }
  Config config;
  if (!ReadConfig(&config, settings)) return format::env::kAttachBadSettings;
  g_recorder.config = config;
  g_recorder.attached = true;
  if (!again) {
    SetUpRecorder();
  } else {
    // No call reaches the hooks since the detach: the last recording's tables and files are
    // dropped; the threads' buffers (empty) move to the new tail file in BeginProcess.
    ForgetRecording();
    ForgetThreadRecords();
    ResetCounters();
  }
  g_live_written = 0;
  if (!BeginProcess(again ? Begin::kAttachedAgain : Begin::kProgram)) {
    g_recorder.state.store(RecorderState::kFinished);
    return format::env::kAttachCannotRecord;
  }
  if (!again) ResolveHeapFigures();
  EnableLockFreeAppends();
  EnableHotPath();
  g_recorder.state.store(RecorderState::kRecording);
  StartTimerThread();
  return format::env::kAttachOk;
}

void FinishRecording(uint32_t reason, int exit_status, HeapFigures figures) {
  HookGuard guard;
  // _exit from a signal handler that interrupted allocwatch or the allocator on this thread:
  // their locks may be held, so nothing more is written (the recording reads as cut short).
  if (guard.Reentered()) return;
  int expected = RecorderState::kRecording;
  if (static_cast<uint32_t>(getpid()) != g_recorder.pid ||
      !g_recorder.state.compare_exchange_strong(expected, RecorderState::kFinished)) {
    return;
  }
  WriteSnapshot(figures, /*final=*/true);  // also sends every buffered event
  WriteLiveList();
  format::EndRecord end{};
  end.header = format::MakeHeader(RecordType::kEnd, sizeof(end));
  end.time_ns = NowNs();
  end.live_count = g_live_written;
  end.lost_events = Writer().lost_records();
  end.reason = reason;
  end.exit_status = exit_status;
  Writer().Append(&end, sizeof(end), /*flush=*/true);
  RemoveTail();  // everything is in the recording
}

void OnExec(const char* path) {
  if (!IsRecording() || static_cast<uint32_t>(getpid()) != g_recorder.pid) return;
  FlushEventsWithClock();
  size_t n = 0;
  while (path != nullptr && path[n] != '\0' && n < 4096) ++n;
  format::ExecRecord r{};
  r.header = format::MakeHeader(RecordType::kExec, sizeof(r) + n);
  r.time_ns = NowNs();
  r.path_size = static_cast<uint32_t>(n);
  Chunk chunks[2] = {{&r, sizeof(r)}, {path, n}};
  Writer().AppendPadded(chunks, 2, /*flush=*/true);
  // The new image keeps a recording and a tail of its own. Should exec fail, this process goes
  // on recording, without the durability of a tail file.
  RemoveTail();
}

namespace {
// The tables' locks are held across this fork (ForkPrepare took them).
bool g_fork_locked = false;
}  // namespace

// Locks are taken in one order and held across fork() so the child inherits consistent tables.
// Not in a process detached from (allocwatch detach): nothing records there, and a new attach
// starts from empty tables anyway.
void ForkPrepare() {
  CurrentThread().in_hook = true;
  // First: a thread inside libunwind takes nothing of allocwatch's, so it always gets out;
  // one waiting at the gate holds nothing the locks below need.
  CloseUnwindGate(CurrentThread());
  g_fork_locked = TablesReady() && !(g_recorder.attached && !IsRecording());
  if (!g_fork_locked) return;
  g_recorder.stacks->lock().Lock();
  g_recorder.heap->LockAll();
  g_recorder.mappings->lock().Lock();
  Writer().LockForFork();
}

void ForkParent() {
  if (g_fork_locked) {
    Writer().UnlockAfterFork();
    g_recorder.mappings->lock().Unlock();
    g_recorder.heap->UnlockAll();
    g_recorder.stacks->lock().Unlock();
  }
  OpenUnwindGate();
  CurrentThread().in_hook = false;
}

void ForkChild() {
  ThreadState& t = CurrentThread();
  ResetUnwindGateInChild(t);
  t.tid = 0;
  t.announced = false;
  if (!TablesReady()) {
    t.in_hook = false;
    return;
  }
  if (!g_fork_locked) {  // detached: a later attach to the child resets the rest
    CountersAfterFork(t);
    g_recorder.timer_thread.store(false);
    t.in_hook = false;
    return;
  }
  ResetEventBuffersInChild(t);
  ForgetRecording();
  CountersAfterFork(t);
  g_recorder.timer_thread.store(false);
  g_recorder.fork_child = true;
  // A child of an attached process is not recorded (its calls pass through the routes it
  // inherits): nothing could detach it, as it has no timer thread; attach to it on its own.
  bool follow = g_recorder.config.only_pid == 0 && !g_recorder.attached &&
                g_recorder.state.load() == RecorderState::kRecording;
  // (An attached process's child may be attached to later, as one detached from.)
  g_recorder.state.store(g_recorder.attached ? RecorderState::kFinished : RecorderState::kDisabled);
  if (follow && BeginProcess(Begin::kForkChild)) {
    g_recorder.state.store(RecorderState::kRecording);
  }
  t.in_hook = false;
}

}  // namespace allocwatch::preload
