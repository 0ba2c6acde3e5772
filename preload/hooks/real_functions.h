// preload/hooks/real_functions.h: the libc functions allocwatch wraps, resolved once.
//
// Hook-safe after Resolve() has returned. Thread-safe: the first caller resolves, other threads
// wait; calls made by dlsym itself while resolving are served by the bootstrap pool.
#pragma once
#include "preload/base/hook_safe.h"

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>

namespace allocwatch::preload {

// A pointer to a function that does not return (the attribute on the type: GCC and clang).
typedef void (*NoReturnFunction)(int) __attribute__((noreturn));

struct RealFunctions {
  void* (*malloc)(size_t) = nullptr;
  void (*free)(void*) = nullptr;
  void* (*calloc)(size_t, size_t) = nullptr;
  void* (*realloc)(void*, size_t) = nullptr;
  void* (*reallocarray)(void*, size_t, size_t) = nullptr;
  int (*posix_memalign)(void**, size_t, size_t) = nullptr;
  void* (*aligned_alloc)(size_t, size_t) = nullptr;
  void* (*memalign)(size_t, size_t) = nullptr;
  void* (*valloc)(size_t) = nullptr;
  void* (*pvalloc)(size_t) = nullptr;
  size_t (*malloc_usable_size)(void*) = nullptr;
  void* (*mmap)(void*, size_t, int, int, int, off_t) = nullptr;
  void* (*mmap64)(void*, size_t, int, int, int, off_t) = nullptr;
  int (*munmap)(void*, size_t) = nullptr;
  void* (*mremap)(void*, size_t, size_t, int, ...) = nullptr;
  void* (*dlopen)(const char*, int) = nullptr;
  int (*dlclose)(void*) = nullptr;
  NoReturnFunction exit_now = nullptr;   // _exit
  NoReturnFunction exit_now2 = nullptr;  // _Exit
  int (*execve)(const char*, char* const[], char* const[]) = nullptr;
  int (*execvpe)(const char*, char* const[], char* const[]) = nullptr;
  int (*fexecve)(int, char* const[], char* const[]) = nullptr;
  int (*pthread_create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*) = nullptr;
};


// True while the calling thread is inside Resolve() (its allocations go to the bootstrap pool).
bool ResolvingOnThisThread();

extern ALLOCWATCH_HIDDEN RealFunctions g_real_functions;
extern ALLOCWATCH_HIDDEN std::atomic<int> g_real_functions_state;  // 0 unresolved, 1 resolving, 2 ready
const RealFunctions& ResolveRealFunctions();

// True once every pointer is set. Never blocks.
ALLOCWATCH_ALWAYS_INLINE bool RealFunctionsReady() {
  return g_real_functions_state.load(std::memory_order_acquire) == 2;
}

// Resolves every function on first use; afterwards a plain load.
ALLOCWATCH_ALWAYS_INLINE const RealFunctions& Real() {
  if (ALLOCWATCH_LIKELY(g_real_functions_state.load(std::memory_order_acquire) == 2)) {
    return g_real_functions;
  }
  return ResolveRealFunctions();
}

}  // namespace allocwatch::preload
