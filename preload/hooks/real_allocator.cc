// preload/hooks/real_allocator.cc: see real_allocator.h.
#include "preload/hooks/real_allocator.h"

#include <atomic>

#include "preload/base/spinlock.h"

namespace allocwatch::preload {
namespace {

// The reserve for allocations that reach the allocator when glibc has nothing: enough for the
// btree nodes of mappings split by munmap, and for a table resize already under way. Only the
// pages used become memory. Never given back (it serves a process at its limit).
constexpr size_t kReserveBytes = 256 * 1024;
alignas(64) constinit unsigned char g_reserve[kReserveBytes] = {};
constinit size_t g_reserve_used = 0;
constinit Spinlock g_reserve_lock;
// Set when the reserve was drawn on: inserts are dropped until glibc can give memory again.
constinit std::atomic<bool> g_short{false};

struct HandOff {
  void* block;
  size_t bytes;
};
__thread HandOff t_hand_off __attribute__((tls_model("initial-exec"))) = {nullptr, 0};

bool InReserve(const void* p) {
  auto* c = static_cast<const unsigned char*>(p);
  return c >= g_reserve && c < g_reserve + kReserveBytes;
}

void* FromReserve(size_t bytes) {
  bytes = (bytes + 15) & ~size_t{15};
  SpinlockHolder hold(g_reserve_lock);
  g_short.store(true, std::memory_order_relaxed);
  if (bytes > kReserveBytes - g_reserve_used) {
    // Only reachable if a change skipped MakeRoomForOne / TableCanAllocateSmall: a bug.
    __builtin_trap();
  }
  void* p = g_reserve + g_reserve_used;
  g_reserve_used += bytes;
  return p;
}

}  // namespace

void* TableAllocate(size_t bytes) {
  HandOff& h = t_hand_off;
  if (h.block != nullptr && bytes <= h.bytes) {
    void* p = h.block;
    h = HandOff{nullptr, 0};
    return p;
  }
  void* p = LibcMalloc(bytes);
  return p != nullptr ? p : FromReserve(bytes);
}

void TableFree(void* p) {
  if (p != nullptr && !InReserve(p)) LibcFree(p);
}

bool TableMemoryAvailable() {
  if (!g_short.load(std::memory_order_relaxed)) return true;
  // Memory is back when glibc can give as much as the reserve holds; the reserve itself is not
  // refilled (what it lent stays with the tables), so this needs half of it still free.
  void* probe = LibcMalloc(kReserveBytes);
  if (probe == nullptr) return false;
  LibcFree(probe);
  SpinlockHolder hold(g_reserve_lock);
  if (g_reserve_used > kReserveBytes / 2) return false;
  g_short.store(false, std::memory_order_relaxed);
  return true;
}

bool TableCanAllocateSmall() {
  if (TableMemoryAvailable()) return true;
  SpinlockHolder hold(g_reserve_lock);
  return kReserveBytes - g_reserve_used >= 16 * 1024;
}

bool HandOffNextAllocation(size_t bytes) {
  ReleaseHandOff();
  void* p = LibcMalloc(bytes);
  if (p == nullptr) return false;
  t_hand_off = HandOff{p, bytes};
  return true;
}

void ReleaseHandOff() {
  HandOff& h = t_hand_off;
  if (h.block != nullptr) LibcFree(h.block);
  h = HandOff{nullptr, 0};
}

}  // namespace allocwatch::preload
