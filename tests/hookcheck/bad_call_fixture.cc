// tests/hookcheck/bad_call_fixture.cc: a hook that asks for its thread's stack bounds, the call
// that deadlocked the JVM. Never linked: the hook_calls_catch_a_bad_call test adds its call
// graph to liballocwatch.so's and expects check_hook_calls.py to name pthread_getattr_np.
#include <pthread.h>

#include <cstddef>

namespace {

__attribute__((noinline)) size_t StackSize() {
  pthread_attr_t attr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return size;
}

}  // namespace

extern "C" void* valloc(size_t n) { return reinterpret_cast<void*>(StackSize() + n); }
