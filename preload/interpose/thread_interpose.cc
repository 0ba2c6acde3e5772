// preload/interpose/thread_interpose.cc: the exported pthread_create.
//
// Hook-safe. Every thread created through it learns its stack bounds at its first instruction
// (hooks/thread_start.h).
#include <pthread.h>

#include "preload/hooks/thread_start.h"
#include "preload/interpose/symbols.h"

using namespace allocwatch::preload;  // NOLINT: one-line wrappers

ALLOCWATCH_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                     void* (*start)(void*), void* arg) {
  return HookPthreadCreate(Real(), thread, attr, start, arg);
}
