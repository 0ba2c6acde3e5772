// preload/hooks/call_site_cache.cc: see call_site_cache.h.
#include "preload/hooks/call_site_cache.h"

#include <libunwind.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>

#include "preload/base/errno_saver.h"
#include "preload/hooks/module_map.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/recorder_state.h"
#include "preload/hooks/unwind_gate.h"

namespace allocwatch::preload {
namespace {

// Sets of entries for one key hash: C++ allocations all reach malloc from one place in
// operator new, so callers at the same depth share a key and need ways of their own.
constexpr uint32_t kSets = 512;
constexpr uint32_t kWays = 4;
constexpr uint32_t kSlotCapacity = 32768;  // return-address slots of all entries together

struct Slot {
  uint64_t value;   // the return address the slot held
  uint64_t offset;  // from the key's stack pointer
};

struct Entry {
  uint64_t return_address;  // key
  uint64_t call_sp;         // key
  uint32_t stack_id;        // 0: empty
  uint32_t first_slot;
  uint32_t slot_count;
};

struct Cache {
  uint64_t generation;  // of the stack table and module map the ids belong to
  uint32_t slots_used;
  uint64_t hits;
  uint64_t misses;
  Entry entries[kSets][kWays];
  uint8_t next_victim[kSets];
  Slot slots[kSlotCapacity];
};

uint64_t CurrentGeneration() {
  return g_recorder.stacks->CacheGeneration(ModuleUnloadGeneration());
}

void ClearEntries(Cache* c) {
  std::memset(c->entries, 0, sizeof(c->entries));
  c->slots_used = 0;
}

Cache* CacheOf(ThreadState& t) {
  auto* c = static_cast<Cache*>(t.call_site_cache);
  if (ALLOCWATCH_LIKELY(c != nullptr) || t.retired) return c;
  ErrnoSaver saved;
  void* p = Real().mmap(nullptr, sizeof(Cache), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
  if (p == MAP_FAILED) return nullptr;
  c = static_cast<Cache*>(p);  // zero-filled: no entries
  c->generation = CurrentGeneration();
  t.call_site_cache = c;
  return c;
}

uint32_t SetIndex(uint64_t return_address, uint64_t call_sp) {
  uint64_t h = (return_address ^ (call_sp * 0x9E3779B97F4A7C15ULL)) * 0xC2B2AE3D27D4EB4FULL;
  return static_cast<uint32_t>(h >> 50) & (kSets - 1);
}

// Frame sizes, learnt by walking stacks: for an address in a function (a return address, as
// unw_backtrace gives them), its CFA minus the stack pointer there. That is a constant where the
// function's CFA rule is the stack pointer plus an offset; where it is not (a frame pointer with
// alloca, a realigned stack), two walks that disagree mark the address as varying, and a size
// that agrees by chance is caught by the check of every slot it places. Shared by all threads,
// lock-free: one word an entry, the address in the high 48 bits and the size in the low 16
// (0: varies, too large, or could not be learnt).
constexpr uint32_t kDeltaEntries = 1 << 14;
constexpr uint32_t kDeltaProbes = 16;
constexpr uint32_t kDeltaUnknown = UINT32_MAX;
constinit std::atomic<uint64_t> g_frame_deltas[kDeltaEntries] = {};
constinit std::atomic<uint32_t> g_deltas_generation{0};  // module unloads they were learnt under

uint32_t DeltaSlot(uint64_t ip) {
  return static_cast<uint32_t>((ip * 0x9E3779B97F4A7C15ULL) >> 40) & (kDeltaEntries - 1);
}

uint32_t FrameDelta(uint64_t ip) {
  for (uint32_t i = 0; i < kDeltaProbes; ++i) {
    uint64_t e =
        g_frame_deltas[(DeltaSlot(ip) + i) & (kDeltaEntries - 1)].load(std::memory_order_relaxed);
    if (e == 0) return kDeltaUnknown;
    if ((e >> 16) == ip) return static_cast<uint32_t>(e & 0xFFFF);
  }
  return kDeltaUnknown;
}

void LearnFrameDelta(uint64_t ip, uint64_t delta) {
  if (ip == 0 || (ip >> 48) != 0) return;
  uint64_t size = delta >= 8 && delta < 0x10000 ? delta : 0;
  for (uint32_t i = 0; i < kDeltaProbes; ++i) {
    std::atomic<uint64_t>& slot = g_frame_deltas[(DeltaSlot(ip) + i) & (kDeltaEntries - 1)];
    uint64_t e = slot.load(std::memory_order_relaxed);
    for (;;) {
      if (e == 0) {
        if (slot.compare_exchange_weak(e, (ip << 16) | size, std::memory_order_relaxed)) return;
        continue;
      }
      if ((e >> 16) != ip) break;                             // another address: next probe
      if ((e & 0xFFFF) == size || (e & 0xFFFF) == 0) return;  // known, or already varying
      if (slot.compare_exchange_weak(e, ip << 16, std::memory_order_relaxed)) return;
    }
  }
}

// A module unloaded since the sizes were learnt: its addresses may now hold other code.
void ForgetFrameDeltasAfterUnload() {
  uint32_t unloads = ModuleUnloadGeneration();
  uint32_t seen = g_deltas_generation.load(std::memory_order_relaxed);
  if (seen == unloads || !g_deltas_generation.compare_exchange_strong(seen, unloads)) return;
  for (auto& e : g_frame_deltas) e.store(0, std::memory_order_relaxed);
}

// Walks the stack with libunwind's full cursor (slow: it reads each frame's unwind rules, and
// libunwind masks signals around its cache on every step) and learns every frame's size.
__attribute__((noinline)) void WalkAndLearnFrameDeltas() {
  uint64_t ips[kUnwindFrames];
  uint64_t sps[kUnwindFrames];
  int n = 0;
  unw_context_t context;
  unw_cursor_t cursor;
  UnwindSection section(CurrentThread());
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return;
  do {
    unw_word_t ip = 0, sp = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || unw_get_reg(&cursor, UNW_REG_SP, &sp) != 0) {
      break;
    }
    ips[n] = ip;
    sps[n] = sp;
    ++n;
  } while (n < static_cast<int>(kUnwindFrames) && unw_step(&cursor) > 0);
  for (int g = 0; g + 1 < n; ++g) LearnFrameDelta(ips[g], sps[g + 1] - sps[g]);
}

// Learns the sizes of frames ips[first, n - 1) that are not known yet, once: an address the
// walk cannot size is marked as varying, so it is not walked for again. False when every size
// was known already (nothing new to place the slots with).
bool LearnUnknownFrameDeltas(void* const* ips, int first, int n) {
  auto unknown = [&](int g) {
    return FrameDelta(reinterpret_cast<uint64_t>(ips[g])) == kDeltaUnknown;
  };
  int g = first;
  while (g + 1 < n && !unknown(g)) ++g;
  if (g + 1 >= n) return false;
  WalkAndLearnFrameDeltas();
  for (g = first; g + 1 < n; ++g) {
    if (unknown(g)) LearnFrameDelta(reinterpret_cast<uint64_t>(ips[g]), 0);
  }
  return true;
}

// Places the return-address slots of the stack above the call from the frame sizes; false when
// a size is not known (or varies) or a slot does not hold its return address.
bool PlaceSlots(uint64_t stack_high, void* const* ips, int first, int n, uint64_t call_sp,
                Slot* out) {
  uint64_t sp = call_sp;
  for (int g = first; g + 1 < n; ++g) {
    uint32_t delta = FrameDelta(reinterpret_cast<uint64_t>(ips[g]));
    if (delta == kDeltaUnknown || delta == 0) return false;
    sp += delta;
    uint64_t slot = sp - 8;
    uint64_t ip = reinterpret_cast<uint64_t>(ips[g + 1]);
    // Each return address must be where a call left it, on this thread's stack.
    if (slot + 8 > stack_high || *reinterpret_cast<const uint64_t*>(slot) != ip) return false;
    *out++ = Slot{ip, slot - call_sp};
  }
  return true;
}

// Unwinds (unw_backtrace), interns the stack above the call (return_address, call_sp) and,
// when its slots can be placed and checked, caches it in `e`.
__attribute__((noinline)) uint32_t UnwindAndCache(ThreadState& t, Cache* c, Entry* e,
                                                  uint64_t return_address, uint64_t call_sp) {
  ErrnoSaver saved;  // callers on exact mode's fast path leave errno to this
  if (c != nullptr) ++c->misses;
  void* ips[kUnwindFrames];
  int n = 0;
  {
    UnwindSection section(t);
    n = unw_backtrace(ips, static_cast<int>(kUnwindFrames));
  }
  // The caller's caller: the first frame at the return address (frames below are allocwatch's).
  int first = 0;
  while (first < n && reinterpret_cast<uint64_t>(ips[first]) != return_address) ++first;
  if (first == n) return InternFrames(t, ips, n);  // not found: intern what was unwound
  uint32_t id = InternFrames(t, ips + first, n - first);
  if (id == 0 || c == nullptr) return id;  // e is set whenever c is
  // Not on the thread's own stack, or its bounds are not known (yet): not cached.
  if (call_sp < t.stack_low || call_sp >= t.stack_high) return id;
  auto slot_count = static_cast<uint32_t>(n - first - 1);
  if (c->slots_used + slot_count > kSlotCapacity) {
    if (slot_count > kSlotCapacity) return id;
    ClearEntries(c);
  }
  ForgetFrameDeltasAfterUnload();
  Slot* out = c->slots + c->slots_used;
  if (!PlaceSlots(t.stack_high, ips, first, n, call_sp, out) &&
      !(LearnUnknownFrameDeltas(ips, first, n) &&
        PlaceSlots(t.stack_high, ips, first, n, call_sp, out))) {
    return id;
  }
  *e = Entry{return_address, call_sp, id, c->slots_used, slot_count};
  c->slots_used += slot_count;
  return id;
}

}  // namespace

uint32_t CallSiteStack(ThreadState& t, CallSite site) {
  const uint64_t return_address = site.return_address;
  const uint64_t call_sp = site.call_sp;
  if (ALLOCWATCH_UNLIKELY(!g_recorder.config.call_site_cache)) {
    return UnwindAndCache(t, nullptr, nullptr, return_address, call_sp);
  }
  Cache* c = CacheOf(t);
  if (ALLOCWATCH_UNLIKELY(c == nullptr))
    return UnwindAndCache(t, nullptr, nullptr, return_address, call_sp);
  uint64_t generation = CurrentGeneration();
  if (ALLOCWATCH_UNLIKELY(c->generation != generation)) {
    ClearEntries(c);
    c->generation = generation;
  }
  uint32_t set = SetIndex(return_address, call_sp);
  for (Entry& e : c->entries[set]) {
    if (e.stack_id == 0 || e.return_address != return_address || e.call_sp != call_sp) continue;
    const Slot* s = c->slots + e.first_slot;
    uint32_t i = 0;
    while (i < e.slot_count &&
           *reinterpret_cast<const uint64_t*>(call_sp + s[i].offset) == s[i].value) {
      ++i;
    }
    if (ALLOCWATCH_LIKELY(i == e.slot_count)) {
      ++c->hits;
      return e.stack_id;
    }
  }
  Entry* victim = &c->entries[set][c->next_victim[set]++ % kWays];
  return UnwindAndCache(t, c, victim, return_address, call_sp);
}

void ReleaseCallSiteCache(ThreadState& t) {
  if (t.call_site_cache == nullptr) return;
  Real().munmap(t.call_site_cache, sizeof(Cache));
  t.call_site_cache = nullptr;
}

CallSiteCacheStats CallSiteCacheCounts(const ThreadState& t) {
  const auto* c = static_cast<const Cache*>(t.call_site_cache);
  return c == nullptr ? CallSiteCacheStats{0, 0} : CallSiteCacheStats{c->hits, c->misses};
}

}  // namespace allocwatch::preload
