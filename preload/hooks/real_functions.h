// preload/hooks/real_functions.h: the libc functions allocwatch wraps, resolved once.
//
// Hook-safe after Resolve() has returned. Thread-safe: the first caller resolves, other threads
// wait; calls made by dlsym itself while resolving are served by the bootstrap pool.
#pragma once
#include "preload/base/hook_safe.h"

#include <sys/types.h>

#include <cstddef>

namespace allocwatch::preload {

// A pointer to a function that does not return (the attribute on the type: GCC and clang).
typedef void (*NoReturnFunction)(int) __attribute__((noreturn));

struct RealFunctions {
  void* (*malloc)(size_t);
  void (*free)(void*);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void* (*reallocarray)(void*, size_t, size_t);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*memalign)(size_t, size_t);
  void* (*valloc)(size_t);
  void* (*pvalloc)(size_t);
  size_t (*malloc_usable_size)(void*);
  void* (*mmap)(void*, size_t, int, int, int, off_t);
  void* (*mmap64)(void*, size_t, int, int, int, off_t);
  int (*munmap)(void*, size_t);
  void* (*mremap)(void*, size_t, size_t, int, ...);
  void* (*dlopen)(const char*, int);
  int (*dlclose)(void*);
  NoReturnFunction exit_now;   // _exit
  NoReturnFunction exit_now2;  // _Exit
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
};

// True once every pointer is set. Never blocks.
bool RealFunctionsReady();

// True while the calling thread is inside Resolve() (its allocations go to the bootstrap pool).
bool ResolvingOnThisThread();

// Resolves every function on first use; afterwards a plain load.
const RealFunctions& Real();

}  // namespace allocwatch::preload
