/* tests/preload/programs/failing_malloc.c: a malloc that fails with ENOMEM.
 *
 * Built with -g -O0. fail_big_malloc() asks for SIZE_MAX/2 bytes (more than any address space
 * holds); glibc returns NULL with errno ENOMEM. The program checks both, and that errno is
 * still ENOMEM after the hook returned. Exit status: 0 when all is as glibc documents.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

volatile size_t g_huge = SIZE_MAX / 2;
void* volatile g_sink;

NOINLINE void* fail_big_malloc(void) { return malloc(g_huge); }  // @fail_big_malloc

int main(void) {
  errno = 0;
  void* p = fail_big_malloc();
  int saved = errno;
  g_sink = p;
  if (p != NULL || saved != ENOMEM) {
    fprintf(stderr, "failing_malloc: got %p errno %d\n", p, saved);
    return 1;
  }
  return 0;
}
