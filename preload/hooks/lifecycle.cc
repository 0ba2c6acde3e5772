// preload/hooks/lifecycle.cc: start, snapshots, exit, fork and exec of the recording.
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include "preload/base/headroom.h"
#include "preload/base/raw_io.h"
#include "preload/hooks/counters.h"
#include "preload/hooks/failure_headroom.h"
#include "preload/hooks/module_map.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/recorder_state.h"

namespace allocwatch::preload {
namespace {

using format::RecordType;

uint64_t g_live_written = 0;

bool TablesReady() { return g_recorder.stacks.get() != nullptr; }

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

void WriteSnapshot() {
  uint64_t now = NowNs();
  RescanModules(now);
  CounterTotals totals = SumCounters();
  format::SnapshotRecord r{};
  r.header = format::MakeHeader(RecordType::kSnapshot, sizeof(r));
  r.time_ns = now;
  r.heap_allocated_bytes = totals.allocated_bytes;
  r.heap_freed_bytes = totals.freed_bytes;
  r.alloc_calls = totals.alloc_calls;
  r.free_calls = totals.free_calls;
  r.mmap_live_bytes = g_recorder.mappings->live_bytes();
  r.vm_size_bytes = StatmBytes(&r.rss_bytes);
  r.lost_events = Writer().lost_records();
  Writer().Append(&r, sizeof(r));
  AppendPeriodicHeadroom(now);
}

void* TimerThread(void*) {
  CurrentThread().in_hook = true;  // nothing this thread does is recorded
  const uint64_t interval = g_recorder.config.interval_ns;
  while (IsRecording()) {
    timespec ts{static_cast<time_t>(interval / 1000000000),
                static_cast<long>(interval % 1000000000)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (!IsRecording()) break;
    WriteSnapshot();
    Writer().Flush();
  }
  return nullptr;
}

void StartTimerThread() {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the thread must never take the program's signals
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  g_recorder.timer_thread = pthread_create(&thread, &attr, TimerThread, nullptr) == 0;
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Opens this process's recording and writes what precedes the first event.
bool BeginProcess(bool fork_child) {
  g_recorder.start_ns = MonotonicNs();
  g_recorder.pid = static_cast<uint32_t>(getpid());
  g_recorder.seed = g_recorder.start_ns * 0x9E3779B97F4A7C15ULL ^ g_recorder.pid;
  if (OpenRecording(g_recorder.config, g_recorder.start_ns, fork_child) < 0) return false;
  RescanModules(0);
  WriteSnapshot();
  Writer().Flush();
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
  g_recorder.mappings->ForEach(
      [&](uint64_t a, const LiveBlock& b) { add(a, b, format::kLiveKindMmap); });
  flush();
  g_live_written = total;
}

}  // namespace

uint64_t g_page_size = 4096;

void MaybeSnapshot(uint64_t now_ns) {
  if (g_recorder.timer_thread) return;
  uint64_t due = g_recorder.next_snapshot_ns.load(std::memory_order_relaxed);
  if (now_ns < due) return;
  uint64_t next = now_ns + g_recorder.config.interval_ns;
  if (!g_recorder.next_snapshot_ns.compare_exchange_strong(due, next)) return;
  WriteSnapshot();
  Writer().Flush();
}

void StartRecording() {
  HookGuard guard;
  if (g_recorder.state.load() != RecorderState::kOff) return;
  if (!ReadConfig(&g_recorder.config)) {
    g_recorder.state.store(RecorderState::kDisabled);
    return;
  }
  g_page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  SetFsRoot(getenv("ALLOCWATCH_FS_ROOT"));
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  SelfCodeRange(&g_recorder.self_start, &g_recorder.self_end);
  g_recorder.stacks.Construct();
  g_recorder.heap.Construct();
  g_recorder.mappings.Construct();
  InitCounters();
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  if (!BeginProcess(/*fork_child=*/false)) {
    g_recorder.state.store(RecorderState::kDisabled);
    return;
  }
  g_recorder.state.store(RecorderState::kRecording);
  StartTimerThread();
}

void FinishRecording(uint32_t reason, int exit_status) {
  HookGuard guard;
  int expected = RecorderState::kRecording;
  if (static_cast<uint32_t>(getpid()) != g_recorder.pid ||
      !g_recorder.state.compare_exchange_strong(expected, RecorderState::kFinished)) {
    return;
  }
  WriteSnapshot();
  WriteLiveList();
  format::EndRecord end{};
  end.header = format::MakeHeader(RecordType::kEnd, sizeof(end));
  end.time_ns = NowNs();
  end.live_count = g_live_written;
  end.lost_events = Writer().lost_records();
  end.reason = reason;
  end.exit_status = exit_status;
  Writer().Append(&end, sizeof(end), /*flush=*/true);
}

void OnExec(const char* path) {
  if (!IsRecording() || static_cast<uint32_t>(getpid()) != g_recorder.pid) return;
  size_t n = 0;
  while (path != nullptr && path[n] != '\0' && n < 4096) ++n;
  format::ExecRecord r{};
  r.header = format::MakeHeader(RecordType::kExec, sizeof(r) + n);
  r.time_ns = NowNs();
  r.path_size = static_cast<uint32_t>(n);
  Chunk chunks[2] = {{&r, sizeof(r)}, {path, n}};
  Writer().AppendPadded(chunks, 2, /*flush=*/true);
}

// Locks are taken in one order and held across fork() so the child inherits consistent tables.
void ForkPrepare() {
  CurrentThread().in_hook = true;
  if (!TablesReady()) return;
  g_recorder.stacks->lock().Lock();
  g_recorder.heap->LockAll();
  g_recorder.mappings->lock().Lock();
  Writer().LockForFork();
}

void ForkParent() {
  if (TablesReady()) {
    Writer().UnlockAfterFork();
    g_recorder.mappings->lock().Unlock();
    g_recorder.heap->UnlockAll();
    g_recorder.stacks->lock().Unlock();
  }
  CurrentThread().in_hook = false;
}

void ForkChild() {
  ThreadState& t = CurrentThread();
  t.tid = 0;
  t.announced = false;
  if (!TablesReady()) {
    t.in_hook = false;
    return;
  }
  Writer().ResetInChild();
  g_recorder.mappings->ResetInChild();
  g_recorder.heap->ResetInChild();
  g_recorder.stacks->ResetInChild();
  ForgetModulesInChild();
  CountersAfterFork(t);
  g_recorder.timer_thread = false;
  bool follow = g_recorder.config.only_pid == 0 &&
                g_recorder.state.load() == RecorderState::kRecording;
  g_recorder.state.store(RecorderState::kDisabled);
  if (follow && BeginProcess(/*fork_child=*/true)) {
    g_recorder.state.store(RecorderState::kRecording);
  }
  t.in_hook = false;
}

}  // namespace allocwatch::preload
