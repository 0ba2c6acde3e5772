// preload/hooks/thread_start.cc: see thread_start.h.
#include "preload/hooks/thread_start.h"

#include "preload/hooks/real_allocator.h"
#include "preload/hooks/recorder.h"
#include "preload/hooks/stack_bounds.h"

namespace allocwatch::preload {
namespace {

struct StartRecord {
  void* (*start)(void*);
  void* arg;
};

void* ThreadStart(void* p) {
  StartRecord r = *static_cast<StartRecord*>(p);
  LibcFree(p);
  LearnStackBounds(CurrentThread());
  return r.start(r.arg);  // a tail call: the program's routine returns to glibc directly
}

}  // namespace

int HookPthreadCreate(const RealFunctions& real, pthread_t* thread, const pthread_attr_t* attr,
                      void* (*start)(void*), void* arg) {
  OnThreadCreate();
  auto* r = static_cast<StartRecord*>(LibcMalloc(sizeof(StartRecord)));
  if (r == nullptr) return real.pthread_create(thread, attr, start, arg);
  *r = StartRecord{start, arg};
  int rc = real.pthread_create(thread, attr, ThreadStart, r);
  if (rc != 0) LibcFree(r);
  return rc;
}

}  // namespace allocwatch::preload
