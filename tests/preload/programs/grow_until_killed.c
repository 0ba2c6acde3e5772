/* tests/preload/programs/grow_until_killed.c: grows its memory without end, 1 MiB at a time,
 * touching every page, so that a memory limit ends it (an OOM kill). Built with -g -O0; the
 * growing call site is grow_step(). Gives up after argv[1] MiB (default 4096) with status 3.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_last;

NOINLINE void* grow_step(void) {
  char* p = malloc(1 << 20);  // @grow_step
  if (p != NULL) memset(p, 1, 1 << 20);
  return p;
}

int main(int argc, char** argv) {
  long limit = argc > 1 ? atol(argv[1]) : 4096;
  struct timespec pause = {0, 2000000}; /* 2 ms: a few snapshots before the end */
  for (long i = 0; i < limit; ++i) {
    g_last = grow_step();
    nanosleep(&pause, NULL);
  }
  return 3;
}
