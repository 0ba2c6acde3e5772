/* tests/preload/programs/grow_release.c: growth that the program undoes at its exit, for the
 * growth tests (a series sampled from the events, not from the snapshots).
 *
 * Built with -g -O0. Usage: grow_release SECONDS GROW
 *   grow_site()   when GROW is 1: per step keeps 50 blocks of 1 KiB (50 KiB a step)
 *   churn_site()  per step: mallocs 64 blocks of 512 B and frees them (flat)
 * Steps follow each other for SECONDS (0.5 ms apart); then every grow_site block is freed and
 * the program exits 0. Prints the bytes grow_site held at its peak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define kMaxBlocks (1 << 20)

static void* g_kept[kMaxBlocks];
void* volatile g_sink;

NOINLINE static void* grow_site(void) {
  char* p = malloc(1024);
  if (p != NULL) memset(p, 1, 1024);
  return p;
}

NOINLINE static void churn_site(void) {
  void* blocks[64];
  for (int i = 0; i < 64; ++i) {
    blocks[i] = malloc(512);
    g_sink = blocks[i];
  }
  for (int i = 0; i < 64; ++i) free(blocks[i]);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  double seconds = strtod(argv[1], NULL);
  int grow = atoi(argv[2]);
  size_t kept = 0;
  double start = now_s();
  struct timespec pause = {0, 500 * 1000};
  while (now_s() - start < seconds) {
    for (int i = 0; grow && i < 50 && kept < kMaxBlocks; ++i) g_kept[kept++] = grow_site();
    churn_site();
    nanosleep(&pause, NULL);
  }
  printf("%zu\n", kept * 1024);
  for (size_t i = 0; i < kept; ++i) free(g_kept[i]);
  return 0;
}
