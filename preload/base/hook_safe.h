// preload/base/hook_safe.h: marker and rules for code that runs inside an allocation hook.
//
// Hook-safe code may call only: the real allocator functions (hooks/real_functions.h), raw
// system calls, atomics, initial-exec thread-locals, unw_backtrace, and other hook-safe code in
// base/. It must never use stdio, iostreams, spdlog, std::string, containers with the default
// allocator, getenv after start-up, or dlsym outside start-up. Every header that is hook-safe
// includes this one as its first include, so a reader can tell at a glance.
//
// The list of what is allowed, each entry with the reason it is safe from every caller, is
// preload/base/hook_safe_calls.txt; the `hook_calls` test (tests/hookcheck/) walks the call
// graph of liballocwatch.so from every interposer and fails on a call it does not list.
// Not allowed in particular: pthread_getattr_np (takes the thread's own lock, which the JVM,
// Rust's runtime and lld hold while they allocate), stdio (its list lock), dladdr and dlsym
// (the loader's lock, held around dlopen's allocations), mallinfo2 from mmap & co. or _exit
// (arena locks; those may run in a signal handler that interrupted the allocator).
#pragma once

#define ALLOCWATCH_HOOK_SAFE 1
#define ALLOCWATCH_ALWAYS_INLINE inline __attribute__((always_inline))
#define ALLOCWATCH_LIKELY(x) __builtin_expect(!!(x), 1)
#define ALLOCWATCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
// For extern declarations of liballocwatch's own globals: lets the compiler address them
// directly instead of through the GOT (-fvisibility=hidden covers definitions only).
#define ALLOCWATCH_HIDDEN __attribute__((visibility("hidden")))
