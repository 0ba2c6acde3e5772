// preload/format/hooked_symbols.h: the one list of libc names liballocwatch.so defines.
//
// Hook-safe: macros and types only. Everything else follows from this list:
//   - hooks/real_functions.h: one pointer per resolved name (RealFunctions), resolved with
//     dlsym(RTLD_NEXT) at start-up in this order;
//   - interpose/: one exported definition per name (ALLOCWATCH_EXPORT);
//   - liballocwatch.map: the version script exports exactly these names; the
//     `exported_symbols` test checks the map and the built library (`nm -D`) against the list.
//
// ALLOCWATCH_RESOLVED_SYMBOLS(X) calls X(name, member, need, type) for each name whose real
// function allocwatch calls: `member` is its RealFunctions field (a field cannot be named
// _Exit), `need` is Required (the C library must have it) or Optional (older or other C
// libraries may not; the hook then has a fallback), `type` the function pointer type (last, as
// it may hold commas).
// ALLOCWATCH_FORWARDED_SYMBOLS(X) calls X(name) for each name defined over another real
// function (execv and the execl family become execve/execvpe with the environment at hand).
//
//   heap:     malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign
//             valloc pvalloc, malloc_usable_size (passes through)
//   mappings: mmap mmap64 munmap mremap, mprotect madvise (what part of a mapping is memory)
//   process:  dlclose (module map), _exit _Exit (end record), the exec family (exec record)
//   threads:  pthread_create (the new thread's stack bounds; the timer thread of a program
//             that was single-threaded until then)
// dlopen is deliberately not wrapped: glibc uses dlopen's return address to pick the caller's
// RUNPATH and namespace, which a wrapper would change. New modules are found by rescans at
// every snapshot, before and after dlclose, and at exit.
#pragma once
#include <pthread.h>
#include <sys/types.h>

#include <cstddef>

namespace allocwatch::format {

// A pointer to a function that does not return (the attribute on the type: GCC and clang).
typedef void (*NoReturnFunction)(int) __attribute__((noreturn));

}  // namespace allocwatch::format

#define ALLOCWATCH_RESOLVED_SYMBOLS(X)                                              \
  X(malloc, malloc, Required, void* (*)(size_t))                                    \
  X(free, free, Required, void (*)(void*))                                          \
  X(calloc, calloc, Required, void* (*)(size_t, size_t))                            \
  X(realloc, realloc, Required, void* (*)(void*, size_t))                           \
  X(reallocarray, reallocarray, Optional, void* (*)(void*, size_t, size_t))         \
  X(posix_memalign, posix_memalign, Required, int (*)(void**, size_t, size_t))      \
  X(aligned_alloc, aligned_alloc, Optional, void* (*)(size_t, size_t))              \
  X(memalign, memalign, Optional, void* (*)(size_t, size_t))                        \
  X(valloc, valloc, Optional, void* (*)(size_t))                                    \
  X(pvalloc, pvalloc, Optional, void* (*)(size_t))                                  \
  X(malloc_usable_size, malloc_usable_size, Required, size_t (*)(void*))            \
  X(mmap, mmap, Required, void* (*)(void*, size_t, int, int, int, off_t))           \
  X(mmap64, mmap64, Optional, void* (*)(void*, size_t, int, int, int, off_t))       \
  X(munmap, munmap, Required, int (*)(void*, size_t))                               \
  X(mremap, mremap, Required, void* (*)(void*, size_t, size_t, int, ...))           \
  X(mprotect, mprotect, Required, int (*)(void*, size_t, int))                      \
  X(madvise, madvise, Required, int (*)(void*, size_t, int))                        \
  X(dlclose, dlclose, Required, int (*)(void*))                                     \
  X(_exit, exit_now, Required, ::allocwatch::format::NoReturnFunction)              \
  X(_Exit, exit_now2, Required, ::allocwatch::format::NoReturnFunction)             \
  X(execve, execve, Required, int (*)(const char*, char* const[], char* const[]))   \
  X(execvpe, execvpe, Optional, int (*)(const char*, char* const[], char* const[])) \
  X(fexecve, fexecve, Optional, int (*)(int, char* const[], char* const[]))         \
  X(pthread_create, pthread_create, Required,                                       \
    int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*))

#define ALLOCWATCH_FORWARDED_SYMBOLS(X) X(execv) X(execvp) X(execl) X(execlp) X(execle)
