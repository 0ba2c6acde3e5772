/* tests/bench/empty_shim.c: the floor for any LD_PRELOAD allocation hook: malloc and free
 * forwarded to glibc and nothing else. run.sh times it as the "shim" configuration. */
#include <stddef.h>

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);

void* malloc(size_t n) { return __libc_malloc(n); }
void free(void* p) { __libc_free(p); }
