// preload/hooks/event_buffer.cc: see event_buffer.h.
#include "preload/hooks/event_buffer.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <new>

#include "preload/base/errno_saver.h"
#include "preload/base/spinlock.h"
#include "preload/format/record_format.h"
#include "preload/hooks/counters.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/tail_file.h"

namespace allocwatch::preload {
namespace {

static_assert(format::kShortAllocCall == static_cast<uint16_t>(format::Call::kMalloc));
static_assert(format::kShortFreeCall == static_cast<uint16_t>(format::Call::kFree));

constexpr uint32_t kBufferBytes = format::kTailSlotBytes;
constexpr uint32_t kDataBytes = format::kTailSlotDataBytes;
constexpr int kMaxBuffers = 4096;

// The owner appends without a lock while no flush is asked for: it marks itself active, then
// checks `flush_requested` (plain stores and loads, a compiler barrier between). A flusher
// takes the lock, sets `flush_requested`, and calls membarrier(PRIVATE_EXPEDITED), which runs
// a full memory barrier on every thread of the process: after it, an owner either saw the
// request (and takes the lock) or is seen active (the flusher waits for it to finish). This is
// the asymmetric form of Dekker's algorithm: the hot path pays no atomic read-modify-write.
// Where membarrier is not available, owners take the lock for every append.
//
// A buffer is a slot of the tail file where there is one (tail_file.h): `batch` and `data` are
// then the slot's header and data, in the page cache as soon as they are stored. An event's
// bytes are stored before `used`, and `used` before `count`, so a killed process leaves whole
// events (format/tail_format.h).
struct EventBuffer {
  format::TailSlotHeader batch{};
  Spinlock lock;
  std::atomic<bool> in_use{false};
  std::atomic<uint32_t> owner_active{0};
  std::atomic<uint32_t> flush_requested{0};
  format::EventCodecState codec;
  // Set by a flush of this buffer that brought the events written since the last ClockRecord
  // to kEventsPerClock; the owner writes one once its append is done (see TakeClockDue).
  bool clock_due = false;
  // An event of the batch has a time before the one appended before it (another CPU's clock,
  // or the overflow buffer's threads): its Events record is not marked in order.
  bool out_of_order = false;
  alignas(64) uint8_t data[kDataBytes];
};
static_assert(sizeof(EventBuffer) <= kBufferBytes);
static_assert(offsetof(EventBuffer, data) == format::kTailSlotDataOffset);
static_assert(offsetof(EventBuffer, batch) == 0);

constinit std::atomic<EventBuffer*> g_buffers[kMaxBuffers] = {};
constinit std::atomic<int> g_buffer_count{0};
constinit EventBuffer* g_overflow = nullptr;  // set at first use, under g_overflow_lock
constinit Spinlock g_overflow_lock;
constinit bool g_asymmetric = false;  // membarrier(PRIVATE_EXPEDITED) is registered

// Exact mode's event times. Reading the clock is the largest single cost of an exact event
// (RDTSC takes 7 to 14 ns in a VM, against an event's 10 to 20 ns in all), so a thread that
// records alone may give a run of events the time it read first (ExactStamp). Times then never
// run ahead of the truth, and the events of one thread keep their order in its buffer, so
// nothing changes for the reader. Events of two threads are ordered by their times alone,
// so while more than one thread holds a buffer, or an event reaches the file by another way,
// every event reads the clock. g_stamp_epoch changes whenever that could have become so: a
// thread takes or gives back a buffer, an event goes to the overflow buffer, a ClockRecord is
// written. A thread reads it inside the append's lock-free section (see EventBuffer), so an
// event appended after a flush has begun reads the clock again and is never timed before the
// flush's ClockRecord.
constinit std::atomic<uint32_t> g_stamp_epoch{0};
constinit std::atomic<int> g_buffers_in_use{0};
// The one thread that may share time reads among its events, or nullptr. Taken by a thread
// that finds itself the only one with a buffer, or given by the timer thread to the only
// thread that recorded since its last tick (ChooseEventTimeOwner); taken away by the first
// event of any other thread, before that event's allocator call (a free is recorded before
// it, an allocation after it, but then its block is not yet in anyone else's hands).
constinit std::atomic<ThreadState*> g_stamp_owner{nullptr};
// Events that may share one time read, and how close (in ticks) the last read must be to the
// one before it for the thread to count as busy: a thread that records more sparsely reads the
// clock for each event, so its times stay exact.
constexpr uint32_t kStampRun = 16;
constexpr uint64_t kBusyTicks = 16 * 1024;

void NewStampEpoch() { g_stamp_epoch.fetch_add(1, std::memory_order_relaxed); }

// Called by the event of a thread that is not `owner`, after its time is read: the owner
// loses the right to share time reads, and its next event reads the clock.
void RevokeStampOwner() {
  g_stamp_owner.store(nullptr, std::memory_order_relaxed);
  NewStampEpoch();
}

// RevokeStampOwner() when another thread than `t` owns the time reads.
ALLOCWATCH_ALWAYS_INLINE void CheckStampOwner(const ThreadState& t) {
  ThreadState* owner = g_stamp_owner.load(std::memory_order_relaxed);
  if (ALLOCWATCH_UNLIKELY(owner != nullptr && owner != &t)) RevokeStampOwner();
}

long Membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

template <typename T>
ALLOCWATCH_ALWAYS_INLINE void Publish(T& field, T value) {
  __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}

// The reader holds heap events until a ClockRecord tells it that every thread's events up to
// that time are in the file, and holds no more than some millions (recording_reader.cc); a
// thread whose buffer fills often must not outrun the timer thread's ClockRecords (100 ms
// apart, later when the machine is busy) by that much while another thread's buffer holds
// older events. So a ClockRecord is also written after every kEventsPerClock events.
constexpr uint64_t kEventsPerClock = 1u << 20;
constinit std::atomic<uint64_t> g_events_since_clock{0};

void FlushLocked(EventBuffer& b) {
  if (b.batch.count == 0) return;
  uint64_t flushed = g_events_since_clock.fetch_add(b.batch.count, std::memory_order_relaxed);
  if (flushed + b.batch.count >= kEventsPerClock) b.clock_due = true;
  ErrnoSaver saved;  // the exact fast path leaves errno to this (a failed write sets it)
  format::EventsRecord r{};
  r.header = format::MakeHeader(format::RecordType::kEvents, sizeof(r) + b.batch.used,
                                b.out_of_order ? 0 : format::kEventsFlagInOrder);
  r.base_time_ns = b.batch.base_time;
  r.count = b.batch.count;
  r.bytes = b.batch.used;
  Chunk chunks[2] = {{&r, sizeof(r)}, {b.data, b.batch.used}};
  Publish(b.batch.flushing, 1u);  // from here the batch may be in the writer's hands too
  Writer().AppendPadded(chunks, 2);
  Publish(b.batch.count, 0u);
  Publish(b.batch.used, 0u);
  Publish(b.batch.flushing, 0u);
}

ALLOCWATCH_ALWAYS_INLINE void AppendLocked(EventBuffer& b, const format::Event& event,
                                           bool short_kind) {
  if (b.batch.used + format::kMaxEventBytes > kDataBytes) FlushLocked(b);
  if (b.batch.count == 0) {
    b.batch.base_time = event.time_ns;
    b.codec = format::EventCodecState{event.time_ns, 0, 0, false};
    b.out_of_order = false;
  }
  b.out_of_order |= event.time_ns < b.codec.last_time;
  uint8_t* end = format::EncodeEvent(b.codec, event, b.data + b.batch.used, short_kind);
  Publish(b.batch.used, static_cast<uint32_t>(end - b.data));
  Publish(b.batch.count, b.batch.count + 1);
}

// Private memory for a buffer, at `fixed` when not null.
void* MapPrivate(void* fixed) {
  void* p = Real().mmap(fixed, kBufferBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | (fixed != nullptr ? MAP_FIXED : 0), -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// A new buffer: a slot of the tail file, else private memory.
EventBuffer* MapBuffer() {
  void* p = MapTailSlot(nullptr);
  if (p == nullptr) p = MapPrivate(nullptr);
  return p == nullptr ? nullptr : new (p) EventBuffer();
}

// A free buffer: a released one, else a new one; nullptr when none.
EventBuffer* TakeFreeBuffer() {
  int n = g_buffer_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    EventBuffer* b = g_buffers[i].load(std::memory_order_acquire);
    bool expected = false;
    if (b != nullptr && !b->in_use.load(std::memory_order_relaxed) &&
        b->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return b;
    }
  }
  EventBuffer* b = MapBuffer();
  if (b == nullptr) return nullptr;
  b->in_use.store(true, std::memory_order_relaxed);
  int slot = g_buffer_count.fetch_add(1, std::memory_order_acq_rel);
  if (slot >= kMaxBuffers) {
    g_buffer_count.fetch_sub(1, std::memory_order_acq_rel);
    Real().munmap(b, kBufferBytes);
    return nullptr;
  }
  g_buffers[slot].store(b, std::memory_order_release);
  return b;
}

// The calling thread's buffer (TakeFreeBuffer), counted among those in use: one more thread
// may be recording, so every thread reads the clock again (g_stamp_epoch).
EventBuffer* ClaimBuffer() {
  EventBuffer* b = TakeFreeBuffer();
  if (b == nullptr) return nullptr;
  g_buffers_in_use.fetch_add(1, std::memory_order_relaxed);
  NewStampEpoch();
  return b;
}

// The time of an exact event: the clock, or the thread's last read while it records alone and
// busily (see g_stamp_epoch). `fresh`: read the clock.
ALLOCWATCH_ALWAYS_INLINE uint64_t ExactStamp(ThreadState& t, bool fresh) {
  uint32_t epoch = g_stamp_epoch.load(std::memory_order_relaxed);
  if (ALLOCWATCH_LIKELY(t.stamp_left != 0) && !fresh && t.stamp_epoch == epoch) {
    --t.stamp_left;
    return t.stamp;
  }
  uint64_t now = EventTicks();
  ThreadState* owner = g_stamp_owner.load(std::memory_order_relaxed);
  if (owner == nullptr && g_buffers_in_use.load(std::memory_order_relaxed) == 1 &&
      !g_recorder.attached) {
    owner = &t;  // the only thread with a buffer
    g_stamp_owner.store(owner, std::memory_order_relaxed);
  } else if (owner != nullptr && owner != &t) {
    RevokeStampOwner();
  }
  t.stamp_left = owner == &t && now - t.stamp < kBusyTicks ? kStampRun - 1 : 0;
  t.stamp = now;
  t.stamp_epoch = epoch;
  return now;
}

// After an append: the ClockRecord a flush found due (kEventsPerClock), written by the owner
// outside its buffer's lock-free section and lock (FlushEventsWithClock takes them all).
ALLOCWATCH_ALWAYS_INLINE void TakeClockDue(EventBuffer& b) {
  if (ALLOCWATCH_LIKELY(!b.clock_due)) return;
  b.clock_due = false;
  ErrnoSaver saved;
  FlushEventsWithClock();
}

// The owner's append: without a lock unless a flush is asked for (see EventBuffer), then the
// ClockRecord a flush found due. `stamp(event, locked)` times the event, inside the lock-free
// section or under the lock (`locked`: a flush was asked for meanwhile; see g_stamp_epoch).
template <typename Stamp>
ALLOCWATCH_ALWAYS_INLINE void AppendAsOwner(EventBuffer& b, format::Event& event, bool short_kind,
                                            Stamp stamp) {
  if (ALLOCWATCH_LIKELY(g_asymmetric)) {
    b.owner_active.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (ALLOCWATCH_LIKELY(b.flush_requested.load(std::memory_order_relaxed) == 0)) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
      stamp(event, false);
      AppendLocked(b, event, short_kind);
      b.owner_active.store(0, std::memory_order_release);
      TakeClockDue(b);
      return;
    }
    b.owner_active.store(0, std::memory_order_release);
  }
  {
    SpinlockHolder hold(b.lock);
    stamp(event, true);
    AppendLocked(b, event, short_kind);
  }
  TakeClockDue(b);
}

}  // namespace

void NoteEventTime(ThreadState& t) {
  t.stamp_left = 0;
  CheckStampOwner(t);
}

void AppendEvent(ThreadState& t, format::Event event) {
  NoteEventTime(t);
  const bool short_kind = format::ShortFormKind(event.kind, event.call, event.sample_bytes);
  auto* b = static_cast<EventBuffer*>(t.event_buffer);
  if (ALLOCWATCH_UNLIKELY(b == nullptr) && !t.retired) {
    b = ClaimBuffer();
    t.event_buffer = b;
  }
  if (ALLOCWATCH_LIKELY(b != nullptr)) {
    AppendAsOwner(*b, event, short_kind, [](format::Event&, bool) {});  // timed by the caller
    return;
  }
  SpinlockHolder hold(g_overflow_lock);
  if (g_overflow == nullptr) g_overflow = MapBuffer();
  if (g_overflow != nullptr) AppendLocked(*g_overflow, event, short_kind);
  NewStampEpoch();  // a stream of its own: the threads that record alone read the clock again
}

void AppendExactEvent(ThreadState& t, format::EventKind kind, uint16_t call, uint64_t address,
                      uint64_t size, uint32_t stack_id) {
  format::Event e;
  e.kind = kind;
  e.call = call;
  e.tid = t.tid;
  e.address = address;
  e.size = size;
  e.stack_id = stack_id;
  e.sample_bytes = format::IsAllocKind(kind) ? 1 : 0;
  // The kind and call as passed, in registers (see EncodeEvent's short_kind).
  const bool short_kind = format::ShortFormKind(kind, call, e.sample_bytes);
  AppendAsOwner(*static_cast<EventBuffer*>(t.event_buffer), e, short_kind,
                [&t](format::Event& event, bool locked) { event.time_ns = ExactStamp(t, locked); });
}

void EnableLockFreeAppends() {
  long supported = Membarrier(MEMBARRIER_CMD_QUERY);
  g_asymmetric = supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                 Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

void NewEventTimeEpoch() {
  NewStampEpoch();
  g_events_since_clock.store(0, std::memory_order_relaxed);
}

void ChooseEventTimeOwner() {
  if (g_recorder.attached) return;
  ThreadState* sole = SoleActiveThread();
  if (sole == nullptr || g_stamp_owner.load(std::memory_order_relaxed) == sole) return;
  g_stamp_owner.store(sole, std::memory_order_relaxed);
  NewStampEpoch();
}

void FlushAllEventBuffers() {
  int n = g_buffer_count.load(std::memory_order_acquire);
  if (g_asymmetric) {
    // Ask every owner at once, one barrier for all, then flush each when its owner is out.
    for (int i = 0; i < n; ++i) {
      EventBuffer* b = g_buffers[i].load(std::memory_order_acquire);
      if (b == nullptr) continue;
      b->lock.Lock();
      b->flush_requested.store(1, std::memory_order_relaxed);
    }
    if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
      std::atomic_thread_fence(std::memory_order_seq_cst);
    for (int i = 0; i < n; ++i) {
      EventBuffer* b = g_buffers[i].load(std::memory_order_acquire);
      if (b == nullptr) continue;
      for (int spins = 0; b->owner_active.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins > 64) sched_yield();
      }
      FlushLocked(*b);
      b->flush_requested.store(0, std::memory_order_relaxed);
      b->lock.Unlock();
    }
  } else {
    for (int i = 0; i < n; ++i) {
      EventBuffer* b = g_buffers[i].load(std::memory_order_acquire);
      if (b == nullptr) continue;
      SpinlockHolder hold(b->lock);
      FlushLocked(*b);
    }
  }
  SpinlockHolder hold(g_overflow_lock);
  if (g_overflow != nullptr) FlushLocked(*g_overflow);
}

void ReleaseEventBuffer(ThreadState& t) {
  auto* b = static_cast<EventBuffer*>(t.event_buffer);
  if (b == nullptr) return;
  t.event_buffer = nullptr;
  {
    SpinlockHolder hold(b->lock);
    FlushLocked(*b);
  }
  b->in_use.store(false, std::memory_order_release);
  g_buffers_in_use.fetch_sub(1, std::memory_order_relaxed);
  ThreadState* self = &t;  // its storage may be another thread's next
  g_stamp_owner.compare_exchange_strong(self, nullptr, std::memory_order_relaxed);
  NewStampEpoch();
}

void ResetEventBuffersInChild(ThreadState& t) {
  t.event_buffer = nullptr;
  // A buffer may be a slot of the parent's tail file, shared with the parent: it is replaced by
  // fresh memory before anything is stored (the parent writes its own events).
  auto renew = [](EventBuffer* b) {
    if (MapPrivate(b) != nullptr) {
      new (b) EventBuffer();
      return b;
    }
    return static_cast<EventBuffer*>(nullptr);  // never stored to: dropped
  };
  int n = g_buffer_count.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    EventBuffer* b = g_buffers[i].load(std::memory_order_relaxed);
    if (b != nullptr) g_buffers[i].store(renew(b), std::memory_order_relaxed);
  }
  g_overflow_lock.ResetAfterFork();
  if (g_overflow != nullptr) g_overflow = renew(g_overflow);
  g_buffers_in_use.store(0, std::memory_order_relaxed);  // the parent's threads record there
  g_stamp_owner.store(nullptr, std::memory_order_relaxed);
  NewStampEpoch();
  EnableLockFreeAppends();  // registration belongs to the address space: the child has a new one
}

void MoveEventBuffersToTail() {
  // Empty buffers; a thread that holds one (attached again: every thread keeps its buffer)
  // goes on owning it.
  auto move = [](EventBuffer* b) {
    if (b == nullptr) return;
    const bool in_use = b->in_use.load(std::memory_order_relaxed);
    if (MapTailSlot(b) == nullptr) return;
    new (b) EventBuffer();
    b->in_use.store(in_use, std::memory_order_relaxed);
  };
  int n = g_buffer_count.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) move(g_buffers[i].load(std::memory_order_relaxed));
  move(g_overflow);
}

}  // namespace allocwatch::preload
