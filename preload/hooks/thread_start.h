// preload/hooks/thread_start.h: the body of the pthread_create interposer.
//
// Hook-safe (it allocates its small start record with glibc's own allocator, LibcMalloc, which
// no hook sees, and calls the real pthread_create). The new thread first runs ThreadStart, which
// learns the thread's stack bounds (stack_bounds.h: allowed there, before the program's start
// routine holds any lock) and then tail-calls the program's routine, so no allocwatch frame stays
// on the thread's stack. pthread_create is also where a sampled program that has been
// single-threaded gets its timer thread: the program is creating a thread in that very call,
// so creating one more there takes no lock the program does not take itself.
#pragma once
#include "preload/base/hook_safe.h"

#include <pthread.h>

#include "preload/hooks/real_functions.h"

namespace allocwatch::preload {

int HookPthreadCreate(const RealFunctions& real, pthread_t* thread, const pthread_attr_t* attr,
                      void* (*start)(void*), void* arg);

}  // namespace allocwatch::preload
