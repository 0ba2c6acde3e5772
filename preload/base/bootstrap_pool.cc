// preload/base/bootstrap_pool.cc: see bootstrap_pool.h.
#include "preload/base/bootstrap_pool.h"

#include <atomic>
#include <cstdint>

namespace allocwatch::preload {
namespace {

constexpr size_t kPoolSize = kBootstrapPoolSize;
unsigned char* const g_pool = g_bootstrap_pool;
constinit std::atomic<size_t> g_used{0};

}  // namespace

alignas(4096) constinit unsigned char g_bootstrap_pool[kBootstrapPoolSize] = {};

void* BootstrapAllocate(size_t size, size_t alignment) {
  if (alignment < 16) alignment = 16;
  size_t old_used = g_used.load(std::memory_order_relaxed);
  for (;;) {
    // Room for a 16-byte size header just before the returned pointer.
    size_t start = (old_used + 16 + alignment - 1) & ~(alignment - 1);
    if (start > kPoolSize || size > kPoolSize - start) return nullptr;
    if (g_used.compare_exchange_weak(old_used, start + size, std::memory_order_relaxed)) {
      *reinterpret_cast<size_t*>(g_pool + start - 16) = size;
      return g_pool + start;  // static storage: already zero
    }
  }
}

size_t BootstrapSize(const void* p) {
  return *reinterpret_cast<const size_t*>(static_cast<const unsigned char*>(p) - 16);
}

}  // namespace allocwatch::preload
