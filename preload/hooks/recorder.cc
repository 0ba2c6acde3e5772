// preload/hooks/recorder.cc: see recorder.h. Event recording; process lifecycle is in
// lifecycle.cc.
#include "preload/hooks/recorder.h"

#include <libunwind.h>
#include <sys/mman.h>

#include <cstring>

#include "preload/base/errno_saver.h"
#include "preload/base/raw_io.h"
#include "preload/hooks/address_table.h"
#include "preload/hooks/brink.h"
#include "preload/hooks/call_site_cache.h"
#include "preload/hooks/control.h"
#include "preload/hooks/counters.h"
#include "preload/hooks/event_buffer.h"
#include "preload/hooks/failure_headroom.h"
#include "preload/hooks/hot_path.h"
#include "preload/hooks/module_map.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/sampler.h"
#include "preload/hooks/stack_table.h"
#include "preload/hooks/unwind_gate.h"

namespace allocwatch::preload {

using format::RecordType;

constinit RecorderState g_recorder;

uint64_t NowNs() { return MonotonicNs() - g_recorder.start_ns; }

uint64_t EventNs() {
  uint64_t now = CoarseMonotonicNs();
  return now > g_recorder.start_ns ? now - g_recorder.start_ns : 0;
}

namespace {

uint32_t Tid(ThreadState& t) {
  if (ALLOCWATCH_UNLIKELY(t.tid == 0)) t.tid = CurrentTid();
  return t.tid;
}

void Announce(ThreadState& t, uint64_t now) {
  if (ALLOCWATCH_LIKELY(t.announced)) return;
  t.announced = true;
  format::ThreadRecord r{};
  r.header = format::MakeHeader(RecordType::kThread, sizeof(r));
  r.time_ns = now;
  r.tid = Tid(t);
  char path[64] = "/proc/self/task/";
  size_t n = std::strlen(path);
  n += FormatDecimal(r.tid, path + n);
  std::memcpy(path + n, "/comm", 6);
  char comm[32];
  long got = ReadSmallFile(path, comm, sizeof(comm));
  for (long i = 0; i < got && i < 15 && comm[i] != '\n'; ++i) r.name[i] = comm[i];
  Writer().Append(&r, sizeof(r));
}

}  // namespace

// Interns a stack unwound by unw_backtrace (allocwatch's own frames are dropped).
uint32_t InternFrames(ThreadState& t, void* const* frames, int n) {
  int skip = 0;
  while (skip < n && reinterpret_cast<uint64_t>(frames[skip]) >= g_recorder.self_start &&
         reinterpret_cast<uint64_t>(frames[skip]) < g_recorder.self_end) {
    ++skip;
  }
  while (n > skip && frames[n - 1] == nullptr) --n;
  uint32_t depth = static_cast<uint32_t>(n - skip);
  if (depth > format::kMaxStackDepth) depth = format::kMaxStackDepth;
  const auto* ips = reinterpret_cast<const uint64_t*>(frames + skip);
  bool is_new = false;
  uint32_t id = g_recorder.stacks->InternCached(t, ips, depth, &is_new);
  if (is_new) {
    format::StackRecord r{};
    r.header = format::MakeHeader(RecordType::kStack, sizeof(r) + depth * sizeof(uint64_t));
    r.stack_id = id;
    r.depth = depth;
    Chunk chunks[2] = {{&r, sizeof(r)}, {ips, depth * sizeof(uint64_t)}};
    Writer().Append(chunks, 2);
  }
  return id;
}

namespace {

ALLOCWATCH_ALWAYS_INLINE uint32_t CaptureStack(ThreadState& t) {
  void* frames[kUnwindFrames];
  int n = 0;
  {
    UnwindSection section(t);
    n = unw_backtrace(frames, static_cast<int>(kUnwindFrames));
  }
  return InternFrames(t, frames, n);
}

format::Event MakeEvent(ThreadState& t, format::EventKind kind, Call call, uint64_t address,
                        uint64_t ticks) {
  if (ALLOCWATCH_UNLIKELY(!t.announced)) Announce(t, EventNs());
  format::Event e{};
  e.kind = kind;
  e.call = static_cast<uint16_t>(call);
  e.tid = Tid(t);
  e.time_ns = ticks;
  e.address = address;
  return e;
}

// Events dropped because allocwatch's tables could not grow (real_allocator.h).
constinit std::atomic<uint64_t> g_dropped_for_memory{0};
constinit std::atomic<bool> g_dropping{false};  // since the last insert that succeeded

void DropForMemory() {
  uint64_t dropped = g_dropped_for_memory.fetch_add(1, std::memory_order_relaxed) + 1;
  Writer().CountLost(1);
  if (g_dropping.exchange(true, std::memory_order_relaxed)) return;
  format::LostRecord r{};
  r.header = format::MakeHeader(RecordType::kLost, sizeof(r), format::kLostFlagNoMemory);
  r.time_ns = NowNs();
  r.events = dropped;
  Writer().Append(&r, sizeof(r), /*flush=*/true);
}

// Whether a table insert succeeded; a failed one is dropped and counted.
bool Kept(bool inserted) {
  if (!inserted) {
    DropForMemory();
    return false;
  }
  if (ALLOCWATCH_UNLIKELY(g_dropping.load(std::memory_order_relaxed))) {
    g_dropping.store(false, std::memory_order_relaxed);
  }
  return true;
}

void InsertBlock(ThreadState& t, format::EventKind kind, uint64_t address, const LiveBlock& b,
                 uint64_t period) {
  format::Event e = MakeEvent(t, kind, static_cast<Call>(b.call), address, EventTicks());
  e.size = b.size;
  e.stack_id = b.stack_id;
  e.sample_bytes = period;
  // Exact mode records every block and needs no table.
  if (!IsExactMode() && !Kept(g_recorder.heap->Insert(address, b))) return;
  AppendEvent(t, e);
  // A sample stands for the period's bytes of allocation.
  CountBrinkBytes(IsExactMode() || b.size > period ? b.size : period, HeapFigures::kMeasure);
  if (!g_recorder.timer_thread.load(std::memory_order_relaxed)) {
    MaybeSnapshot(EventNs(), HeapFigures::kMeasure);
  }
}

}  // namespace

void CountUnrecordedBlock(ThreadState& t, uint64_t size) {
  ErrnoSaver saved;
  uint64_t period = 0;
  bool sampled = DecideSample(t, size, &period);  // counts it
  if (!sampled && !IsExactMode()) return;         // as often as a recorded one would poll
  PollControl(HeapFigures::kMeasure);
  if (!g_recorder.timer_thread.load(std::memory_order_relaxed)) {
    MaybeSnapshot(NowNs(), HeapFigures::kMeasure);
  }
}

bool DecideSample(ThreadState& t, size_t size, uint64_t* period) {
  CountAlloc(t, size);
  // A thread that is not registered counts in the slow path (counters.h): no fast path.
  return Sampler::ShouldSample(t, size, g_hot.period.load(std::memory_order_relaxed),
                               g_recorder.seed ^ Tid(t), t.registered, period);
}

void RecordSampledAlloc(ThreadState& t, Call call, const void* p, size_t size, uint64_t period,
                        uint32_t stack) {
  InsertBlock(t, format::EventKind::kAlloc, reinterpret_cast<uint64_t>(p),
              LiveBlock{size, stack, static_cast<uint16_t>(call)}, period);
}

namespace {

// Counts the free of `p` and, when it was a recorded block, forgets it and records the free.
// In exact mode every free is recorded (the reader ignores frees of blocks it never saw).
bool FreeBlock(ThreadState& t, Call call, const void* p, format::EventKind kind, LiveBlock* block) {
  CountFree(t);
  auto address = reinterpret_cast<uint64_t>(p);
  if (!IsExactMode()) {
    if (!HeapTable::MayContain(address) || !g_recorder.heap->Remove(address, block)) return false;
  }
  AppendEvent(t, MakeEvent(t, kind, call, address, EventTicks()));
  return true;
}

}  // namespace

void RecordFree(ThreadState& t, Call call, const void* p) {
  LiveBlock block;
  FreeBlock(t, call, p, format::EventKind::kFree, &block);
}

ReallocTicket BeginRealloc(ThreadState& t, const void* old) {
  ReallocTicket ticket{};
  if (IsExactMode()) {
    // The free of `old` is written once the call has succeeded, with the time taken now (before
    // the address can be handed to another thread), so a failed realloc writes nothing.
    CountFree(t);
    ticket.free_ticks = EventTicks();
    NoteEventTime(t);
    return ticket;
  }
  LiveBlock block;
  ticket.tracked = FreeBlock(t, Call::kRealloc, old, format::EventKind::kReallocFree, &block);
  if (ticket.tracked) {
    ticket.size = block.size;
    ticket.stack_id = block.stack_id;
    ticket.call = block.call;
  }
  return ticket;
}

void EndRealloc(ThreadState& t, Call call, const void* old, const ReallocTicket& ticket,
                const void* result, size_t new_size) {
  if (IsExactMode() && (result != nullptr || new_size == 0)) {
    AppendEvent(t, MakeEvent(t, format::EventKind::kReallocFree, call,
                             reinterpret_cast<uint64_t>(old), ticket.free_ticks));
  }
  if (result != nullptr || new_size == 0)
    return;  // the new block: RecordNewBlock  // realloc(p, 0) freed p
  // The call failed and `old` is still allocated: put it back as it was (its sampling weight
  // is the process's period: see FORMAT.md).
  if (ticket.tracked) {
    InsertBlock(t, format::EventKind::kRestoredAlloc, reinterpret_cast<uint64_t>(old),
                LiveBlock{ticket.size, ticket.stack_id, ticket.call}, 0);
  }
}

void RecordMmap(ThreadState& t, Call call, const void* p, size_t length, int prot, int flags,
                int fd, uint64_t offset) {
  uint32_t stack = CaptureStack(t);
  auto address = reinterpret_cast<uint64_t>(p);
  uint16_t kind = 0;
  if ((flags & MAP_ANONYMOUS) == 0) kind |= kMappingFile;
  if ((flags & MAP_SHARED) != 0) kind |= kMappingShared;
  if (prot == PROT_NONE) kind |= kMappingReserved;
  if (!Kept(
          g_recorder.mappings->Insert(address, length, stack, static_cast<uint16_t>(call), kind))) {
    return;
  }
  uint64_t now = EventNs();
  Announce(t, now);
  format::MmapRecord r{};
  r.header = format::MakeHeader(RecordType::kMmap, sizeof(r));
  r.time_ns = now;
  r.address = address;
  r.length = length;
  r.offset = offset;
  r.stack_id = stack;
  r.tid = Tid(t);
  r.prot = prot;
  r.flags = flags;
  r.fd = fd;
  r.call = static_cast<uint16_t>(call);
  Writer().Append(&r, sizeof(r));
  CountBrinkBytes(length, HeapFigures::kLastMeasured);
  MaybeSnapshot(now, HeapFigures::kLastMeasured);
}

void RecordMunmap(ThreadState& t, const void* p, size_t length) {
  auto address = reinterpret_cast<uint64_t>(p);
  // The kernel rejects these without unmapping anything (EINVAL): nothing to record.
  if (length == 0 || address % g_page_size != 0) return;
  length = RoundUpToPage(length);  // the kernel unmaps whole pages
  if (g_recorder.mappings->Remove(address, length) == 0) return;
  uint64_t now = EventNs();
  Announce(t, now);
  format::MunmapRecord r{};
  r.header = format::MakeHeader(RecordType::kMunmap, sizeof(r));
  r.time_ns = now;
  r.address = address;
  r.length = length;
  r.tid = Tid(t);
  Writer().Append(&r, sizeof(r));
}

void RecordMremap(ThreadState& t, const void* old_p, size_t old_length, const void* new_p,
                  size_t new_length, int flags) {
  uint32_t stack = CaptureStack(t);
  auto old_address = reinterpret_cast<uint64_t>(old_p);
  auto new_address = reinterpret_cast<uint64_t>(new_p);
  old_length = RoundUpToPage(old_length);
  uint16_t kind = 0;  // the kernel moves or grows one mapping: its kind stays
  g_recorder.mappings->Remove(old_address, old_length, &kind);
  // Recorded even when the table cannot keep it, so the reader sees the old mapping go.
  Kept(g_recorder.mappings->Insert(new_address, new_length, stack,
                                   static_cast<uint16_t>(Call::kMremap), kind));
  uint64_t now = EventNs();
  Announce(t, now);
  format::MremapRecord r{};
  r.header = format::MakeHeader(RecordType::kMremap, sizeof(r));
  r.time_ns = now;
  r.old_address = old_address;
  r.old_length = old_length;
  r.new_address = new_address;
  r.new_length = new_length;
  r.stack_id = stack;
  r.tid = Tid(t);
  r.flags = flags;
  Writer().Append(&r, sizeof(r));
}

void RecordProtect(ThreadState& t, const void* p, size_t length, int prot) {
  auto address = reinterpret_cast<uint64_t>(p);
  if (length == 0 || address % g_page_size != 0) return;
  length = RoundUpToPage(length);
  const bool accessible = prot != PROT_NONE;
  // Most calls (a JIT flipping its code between writable and executable) leave every recorded
  // byte as accessible as it was: they cost one look at the table and no stack.
  if (g_recorder.mappings->Unlike(address, length, accessible) == 0) return;
  uint32_t stack = accessible ? CaptureStack(t) : 0;
  if (g_recorder.mappings->Protect(address, length, accessible, stack) == 0) return;
  uint64_t now = EventNs();
  Announce(t, now);
  format::ProtectRecord r{};
  r.header = format::MakeHeader(RecordType::kProtect, sizeof(r));
  r.time_ns = now;
  r.address = address;
  r.length = length;
  r.stack_id = stack;
  r.tid = Tid(t);
  r.prot = prot;
  Writer().Append(&r, sizeof(r));
  if (accessible) CountBrinkBytes(length, HeapFigures::kLastMeasured);
}

void RecordAdvise(ThreadState& t, const void* p, size_t length, int advice) {
  auto address = reinterpret_cast<uint64_t>(p);
  if (advice != MADV_DONTNEED && advice != MADV_FREE && advice != MADV_REMOVE) return;
  if (length == 0 || address % g_page_size != 0) return;
  length = RoundUpToPage(length);
  // Only what lies in recorded accessible mappings is of interest.
  uint64_t inside = g_recorder.mappings->Unlike(address, length, /*accessible=*/false);
  if (inside == 0) return;
  uint64_t now = EventNs();
  Announce(t, now);
  format::AdviseRecord r{};
  r.header = format::MakeHeader(RecordType::kAdvise, sizeof(r));
  r.time_ns = now;
  r.address = address;
  r.length = length;
  r.tid = Tid(t);
  r.advice = advice;
  Writer().Append(&r, sizeof(r));
}

void RecordFailure(ThreadState& t, Call call, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                   int error, int64_t result) {
  uint32_t stack = CaptureStack(t);
  FlushEventsWithClock();  // what led up to the failure reaches the file with it
  uint64_t now = NowNs();
  Announce(t, now);
  format::FailureRecord r{};
  r.header = format::MakeHeader(RecordType::kFailure, sizeof(r));
  r.time_ns = now;
  r.args[0] = a0;
  r.args[1] = a1;
  r.args[2] = a2;
  r.args[3] = a3;
  r.result = result;
  r.stack_id = stack;
  r.tid = Tid(t);
  r.error = error;
  r.call = static_cast<uint16_t>(call);
  AppendFailureWithHeadroom(r);  // the failure and a headroom snapshot, flushed as one write
}

void RecordModulesChanged() {
  FlushEventsWithClock();  // events before the change resolve against the old module map
  RescanModules(NowNs());
}

bool g_use_tsc = false;

namespace {

// Whether `word` is one of the space-separated words of the first "flags" line of `text`.
bool HasCpuFlag(const char* text, const char* word) {
  const char* line = std::strstr(text, "\nflags");
  if (line == nullptr) return false;
  const char* end = std::strchr(line + 1, '\n');
  size_t n = std::strlen(word);
  for (const char* p = std::strstr(line, word); p != nullptr && (end == nullptr || p < end);
       p = std::strstr(p + 1, word)) {
    if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) return true;
  }
  return false;
}

}  // namespace

void ChooseEventClock() {
#if defined(__x86_64__)
  char buf[32] = {};
  long n = ReadSmallFile("/sys/devices/system/clocksource/clocksource0/current_clocksource", buf,
                         sizeof(buf) - 1);
  g_use_tsc =
      n >= 3 && buf[0] == 't' && buf[1] == 's' && buf[2] == 'c' && (n == 3 || buf[3] == '\n');
  if (g_use_tsc) return;
  // A virtual machine's kernel often keeps its hypervisor's clock (kvm-clock: reading it took
  // 40 % of an exact-mode event here) although the TSC runs at a constant rate through sleep
  // states and the hypervisor vouches for it being in step on every CPU: then the TSC orders
  // events as well (the ClockRecords, at least every 100 ms, map its ticks to nanoseconds).
  static char cpuinfo[16384];
  long got = ReadSmallFile("/proc/cpuinfo", cpuinfo, sizeof(cpuinfo) - 1);
  if (got <= 0) return;
  cpuinfo[got] = '\0';
  g_use_tsc = HasCpuFlag(cpuinfo, "constant_tsc") && HasCpuFlag(cpuinfo, "nonstop_tsc") &&
              HasCpuFlag(cpuinfo, "tsc_reliable");
#endif
}

void FlushEventsWithClock() {
  if (g_recorder.heap.get() == nullptr) return;  // recording never started: nothing to flush
  format::ClockRecord r{};
  r.header = format::MakeHeader(RecordType::kClock, sizeof(r));
  NewEventTimeEpoch();     // no event flushed after this record times itself before it
  r.ticks = ClockTicks();  // read before the buffers are
  r.time_ns = NowNs();
  FlushAllEventBuffers();
  Writer().Append(&r, sizeof(r));
}

}  // namespace allocwatch::preload
