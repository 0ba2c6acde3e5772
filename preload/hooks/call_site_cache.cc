// preload/hooks/call_site_cache.cc: see call_site_cache.h.
#include "preload/hooks/call_site_cache.h"

#include <libunwind.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cstring>

#include "preload/hooks/module_map.h"
#include "preload/hooks/real_functions.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/recorder_state.h"

namespace allocwatch::preload {
namespace {

constexpr uint32_t kEntries = 1024;      // direct-mapped
constexpr uint32_t kSlotCapacity = 16384;  // return-address slots of all entries together

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
  uint64_t stack_low;   // the thread's stack; both 0 when unknown (nothing is cached)
  uint64_t stack_high;
  uint32_t slots_used;
  uint64_t hits;
  uint64_t misses;
  Entry entries[kEntries];
  Slot slots[kSlotCapacity];
};

uint64_t CurrentGeneration() {
  return (g_recorder.stacks->generation() << 32) | ModuleUnloadGeneration();
}

void ClearEntries(Cache* c) {
  std::memset(c->entries, 0, sizeof(c->entries));
  c->slots_used = 0;
}

Cache* CacheOf(ThreadState& t) {
  auto* c = static_cast<Cache*>(t.call_site_cache);
  if (ALLOCWATCH_LIKELY(c != nullptr) || t.retired) return c;
  void* p = Real().mmap(nullptr, sizeof(Cache), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  c = static_cast<Cache*>(p);  // zero-filled: no entries, no known stack
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &low, &size) == 0 && low != nullptr && size > 0) {
      c->stack_low = reinterpret_cast<uint64_t>(low);
      c->stack_high = c->stack_low + size;
    }
    pthread_attr_destroy(&attr);
  }
  c->generation = CurrentGeneration();
  t.call_site_cache = c;
  return c;
}

uint32_t EntryIndex(uint64_t return_address, uint64_t call_sp) {
  uint64_t h = (return_address ^ (call_sp * 0x9E3779B97F4A7C15ULL)) * 0xC2B2AE3D27D4EB4FULL;
  return static_cast<uint32_t>(h >> 54) & (kEntries - 1);
}

// Unwinds from here, interns the stack above the call (return_address, call_sp) and, when it
// can be checked later, caches it in `e`.
__attribute__((noinline)) uint32_t UnwindAndCache(ThreadState& t, Cache* c, Entry* e,
                                                  uint64_t return_address, uint64_t call_sp) {
  if (c != nullptr) ++c->misses;
  void* ips[kUnwindFrames];
  uint64_t sps[kUnwindFrames];
  int n = 0;
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) == 0 && unw_init_local(&cursor, &context) == 0) {
    do {
      unw_word_t ip = 0, sp = 0;
      if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || unw_get_reg(&cursor, UNW_REG_SP, &sp) != 0) {
        break;
      }
      ips[n] = reinterpret_cast<void*>(ip);
      sps[n] = sp;
      ++n;
    } while (n < static_cast<int>(kUnwindFrames) && unw_step(&cursor) > 0);
  }
  // The caller's caller: the frame whose stack pointer is the call's and whose address is the
  // return address.
  int first = 0;
  while (first < n && !(sps[first] == call_sp &&
                        reinterpret_cast<uint64_t>(ips[first]) == return_address)) {
    ++first;
  }
  if (first == n) return InternFrames(t, ips, n);  // not found: intern what was unwound
  uint32_t id = InternFrames(t, ips + first, n - first);
  if (id == 0 || c == nullptr || e == nullptr) return id;
  if (call_sp < c->stack_low || call_sp >= c->stack_high) return id;  // not on the thread's stack
  auto slot_count = static_cast<uint32_t>(n - first - 1);
  if (c->slots_used + slot_count > kSlotCapacity) {
    if (slot_count > kSlotCapacity) return id;
    ClearEntries(c);
  }
  Slot* out = c->slots + c->slots_used;
  for (int g = first + 1; g < n; ++g) {
    uint64_t slot = sps[g] - 8;
    uint64_t ip = reinterpret_cast<uint64_t>(ips[g]);
    // Each return address must be where a call left it, on this thread's stack, above the call.
    if (slot < call_sp || slot + 8 > c->stack_high ||
        *reinterpret_cast<const uint64_t*>(slot) != ip) {
      return id;
    }
    *out++ = Slot{ip, slot - call_sp};
  }
  *e = Entry{return_address, call_sp, id, c->slots_used, slot_count};
  c->slots_used += slot_count;
  return id;
}

}  // namespace

uint32_t CallSiteStack(ThreadState& t, uint64_t return_address, uint64_t call_sp) {
  Cache* c = CacheOf(t);
  if (ALLOCWATCH_UNLIKELY(c == nullptr)) return UnwindAndCache(t, nullptr, nullptr, return_address, call_sp);
  uint64_t generation = CurrentGeneration();
  if (ALLOCWATCH_UNLIKELY(c->generation != generation)) {
    ClearEntries(c);
    c->generation = generation;
  }
  Entry* e = &c->entries[EntryIndex(return_address, call_sp)];
  if (e->stack_id != 0 && e->return_address == return_address && e->call_sp == call_sp) {
    const Slot* s = c->slots + e->first_slot;
    uint32_t i = 0;
    while (i < e->slot_count &&
           *reinterpret_cast<const uint64_t*>(call_sp + s[i].offset) == s[i].value) {
      ++i;
    }
    if (ALLOCWATCH_LIKELY(i == e->slot_count)) {
      ++c->hits;
      return e->stack_id;
    }
  }
  return UnwindAndCache(t, c, e, return_address, call_sp);
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
