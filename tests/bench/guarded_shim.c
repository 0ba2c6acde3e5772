/* tests/bench/guarded_shim.c: the floor for an LD_PRELOAD allocation hook built as allocwatch's
 * is: a thread-local reentrancy guard set around the call into glibc (so that an allocator
 * calling hooked functions passes through), and a call that returns to the hook, which looks
 * at the result (a failed allocation has to be seen to be recorded). Nothing is counted or
 * recorded. run.sh times it as the "guarded" configuration, beside the tail-calling "shim". */
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);

static __thread char in_hook __attribute__((tls_model("initial-exec")));
static __thread unsigned long failures __attribute__((tls_model("initial-exec")));

void* malloc(size_t n) {
  if (in_hook) return __libc_malloc(n);
  in_hook = 1;
  void* p = __libc_malloc(n);
  in_hook = 0;
  if (p == NULL) ++failures;
  return p;
}

void free(void* p) {
  if (in_hook) return __libc_free(p);
  in_hook = 1;
  __libc_free(p);
  in_hook = 0;
}
