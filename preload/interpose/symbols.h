// preload/interpose/symbols.h: the one list of libc names liballocwatch.so defines.
//
// Hook-safe. Kept in sync with liballocwatch.map (the version script that exports exactly these).
//   heap:     malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign
//             valloc pvalloc malloc_usable_size (passes through)
//   mappings: mmap mmap64 munmap mremap
//   process:  dlclose (module map), _exit _Exit (end record), execve execv execvp execvpe
//             execl execlp execle fexecve (exec record)
//   threads:  pthread_create (the new thread's stack bounds; the timer thread of a sampled
//             program that was single-threaded until then)
// dlopen is deliberately not wrapped: glibc uses dlopen's return address to pick the caller's
// RUNPATH and namespace, which a wrapper would change. New modules are found by rescans at
// every snapshot, before and after dlclose, and at exit.
#pragma once
#include "preload/base/hook_safe.h"

#define ALLOCWATCH_EXPORT extern "C" __attribute__((visibility("default")))
