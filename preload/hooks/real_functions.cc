// preload/hooks/real_functions.cc: see real_functions.h.
#include "preload/hooks/real_functions.h"

#include <dlfcn.h>
#include <sched.h>

#include <atomic>

#include "preload/base/bootstrap_pool.h"
#include "preload/base/raw_io.h"

namespace allocwatch::preload {
namespace {

RealFunctions& g_real = g_real_functions;
std::atomic<int>& g_state = g_real_functions_state;
thread_local bool t_resolving __attribute__((tls_model("initial-exec"))) = false;

template <typename T>
void Resolve(T& slot, const char* name, bool required) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr && required) {
    RawLog2("cannot resolve the real ", name);
    __builtin_trap();
  }
  slot = reinterpret_cast<T>(p);
}

enum Need { Required, Optional };

void ResolveAll() {
#define ALLOCWATCH_RESOLVE(name, member, need, ...) Resolve(g_real.member, #name, need == Required);
  ALLOCWATCH_RESOLVED_SYMBOLS(ALLOCWATCH_RESOLVE)
#undef ALLOCWATCH_RESOLVE
  if (g_real.mmap64 == nullptr) g_real.mmap64 = g_real.mmap;
  Resolve(g_real.libc_malloc, "__libc_malloc", false);
  Resolve(g_real.libc_free, "__libc_free", false);
}

// Until resolved, the hottest entries point here: the hooks call through them without checking
// the state first.
void* ResolveThenMalloc(size_t size) {
  if (t_resolving) return BootstrapAllocate(size);
  return ResolveRealFunctions().malloc(size);
}

void ResolveThenFree(void* p) {
  if (t_resolving) return;  // a bootstrap-time block; never reused
  ResolveRealFunctions().free(p);
}

}  // namespace

constinit RealFunctions g_real_functions{.malloc = ResolveThenMalloc, .free = ResolveThenFree};
constinit std::atomic<int> g_real_functions_state{0};

bool ResolvingOnThisThread() { return t_resolving; }

const RealFunctions& ResolveRealFunctions() {
  if (g_state.load(std::memory_order_acquire) == 2) return g_real;
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t_resolving = true;
    ResolveAll();
    t_resolving = false;
    g_state.store(2, std::memory_order_release);
  } else {
    while (g_state.load(std::memory_order_acquire) != 2) sched_yield();
  }
  return g_real;
}

}  // namespace allocwatch::preload
