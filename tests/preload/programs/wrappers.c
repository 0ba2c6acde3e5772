/* tests/preload/programs/wrappers.c: allocations made through an allocation wrapper named as
 * libiberty's (GCC, binutils), for the report's choice of call site.
 *
 * Built with -g -O0. keep_site() keeps 10 blocks of 1000 bytes taken through xmalloc(), which
 * aborts on failure as libiberty's does; direct_site() keeps 3 blocks of 500 bytes from malloc
 * itself. Prints one line and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_kept[13];

NOINLINE void* xmalloc(size_t size) {
  void* p = malloc(size);
  if (p == NULL) abort();
  return p;
}

NOINLINE static void keep_site(void) {
  for (int i = 0; i < 10; ++i) g_kept[i] = xmalloc(1000);
}

NOINLINE static void direct_site(void) {
  for (int i = 0; i < 3; ++i) g_kept[10 + i] = malloc(500);
}

int main(void) {
  keep_site();
  direct_site();
  printf("kept 13 blocks\n");
  return 0;
}
