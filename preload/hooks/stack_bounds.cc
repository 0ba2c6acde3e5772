// preload/hooks/stack_bounds.cc: see stack_bounds.h.
#include "preload/hooks/stack_bounds.h"

#include <pthread.h>

#include <cstdint>

namespace allocwatch::preload {

void LearnStackBounds(ThreadState& t) {
  HookGuard guard;  // pthread_getattr_np's own allocations are not the program's
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* low = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &low, &size) == 0 && low != nullptr && size > 0) {
    t.stack_low = reinterpret_cast<uint64_t>(low);
    t.stack_high = t.stack_low + size;
  }
  pthread_attr_destroy(&attr);
}

}  // namespace allocwatch::preload
