// preload/hooks/stack_bounds.h: the bounds of a thread's own stack, for the call-site cache.
//
// NOT hook-safe: LearnStackBounds calls pthread_getattr_np, which takes the thread's own lock,
// allocates, and for the main thread reads /proc/self/maps through stdio. A program that asks
// for its stack bounds (the JVM, Rust's runtime, lld, Chromium) holds that lock while it
// allocates, so the call deadlocks inside a hook. It is made only where the calling thread can
// hold no lock: the library's start-up (on the thread that loads it) and the first instruction
// of a thread created through pthread_create (thread_start.h), before the program's start
// routine runs. Threads never seen there (made by raw clone, or running before the library was
// loaded) keep bounds of 0: their stacks are unwound on every sampled event, never cached.
#pragma once

#include "preload/hooks/thread_state.h"

namespace allocwatch::preload {

// Sets t.stack_low and t.stack_high for the calling thread (left 0 when unknown). `t` must be
// the calling thread's state.
void LearnStackBounds(ThreadState& t);

}  // namespace allocwatch::preload
