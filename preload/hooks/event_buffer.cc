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
#include "preload/hooks/real_functions.h"
#include "preload/hooks/record_writer.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/tail_file.h"

namespace allocwatch::preload {
namespace {

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

long Membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

template <typename T>
ALLOCWATCH_ALWAYS_INLINE void Publish(T& field, T value) {
  __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}

void FlushLocked(EventBuffer& b) {
  if (b.batch.count == 0) return;
  ErrnoSaver saved;  // the exact fast path leaves errno to this (a failed write sets it)
  format::EventsRecord r{};
  r.header = format::MakeHeader(format::RecordType::kEvents, sizeof(r) + b.batch.used);
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

ALLOCWATCH_ALWAYS_INLINE void AppendLocked(EventBuffer& b, const format::Event& event) {
  if (b.batch.used + format::kMaxEventBytes > kDataBytes) FlushLocked(b);
  if (b.batch.count == 0) {
    b.batch.base_time = event.time_ns;
    b.codec = format::EventCodecState{event.time_ns, 0, 0, false};
  }
  uint8_t* end = format::EncodeEvent(b.codec, event, b.data + b.batch.used);
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

// A free buffer for the calling thread: a released one, else a new one; nullptr when none.
EventBuffer* ClaimBuffer() {
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

// The owner's append: without a lock unless a flush is asked for (see EventBuffer).
ALLOCWATCH_ALWAYS_INLINE void AppendAsOwner(EventBuffer& b, const format::Event& event) {
  if (ALLOCWATCH_LIKELY(g_asymmetric)) {
    b.owner_active.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (ALLOCWATCH_LIKELY(b.flush_requested.load(std::memory_order_relaxed) == 0)) {
      AppendLocked(b, event);
      b.owner_active.store(0, std::memory_order_release);
      return;
    }
    b.owner_active.store(0, std::memory_order_release);
  }
  SpinlockHolder hold(b.lock);
  AppendLocked(b, event);
}

}  // namespace

void AppendEvent(ThreadState& t, const format::Event& event) {
  auto* b = static_cast<EventBuffer*>(t.event_buffer);
  if (ALLOCWATCH_UNLIKELY(b == nullptr) && !t.retired) {
    b = ClaimBuffer();
    t.event_buffer = b;
  }
  if (ALLOCWATCH_LIKELY(b != nullptr)) {
    AppendAsOwner(*b, event);
    return;
  }
  SpinlockHolder hold(g_overflow_lock);
  if (g_overflow == nullptr) g_overflow = MapBuffer();
  if (g_overflow != nullptr) AppendLocked(*g_overflow, event);
}

void AppendExactEvent(ThreadState& t, format::EventKind kind, uint16_t call, uint64_t address,
                      uint64_t size, uint32_t stack_id) {
  format::Event e;
  e.kind = kind;
  e.call = call;
  e.tid = t.tid;
  e.time_ns = EventTicks();
  e.address = address;
  e.size = size;
  e.stack_id = stack_id;
  e.sample_bytes = format::IsAllocKind(kind) ? 1 : 0;
  AppendAsOwner(*static_cast<EventBuffer*>(t.event_buffer), e);
}

void EnableLockFreeAppends() {
  long supported = Membarrier(MEMBARRIER_CMD_QUERY);
  g_asymmetric = supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                 Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
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
