/* tests/preload/programs/brink.c: heap growth towards a memory limit, three ways.
 *
 *   brink fake USAGE_FILE LIMIT [STAT_FILE]
 *     Before each step writes a usage figure (a share of LIMIT) into USAGE_FILE, a fake
 *     cgroup's memory.usage_in_bytes (ALLOCWATCH_FS_ROOT points allocwatch at the fake tree),
 *     and waits 2 ms, then keeps 2 MiB more from step_site (8 blocks of 256 KiB). The shares, in percent:
 *     50, 91, 92, 96, 99, 40, 91, then 95 with STAT_FILE saying 30 % of LIMIT is file pages.
 *     Prints the bytes kept after each step, one line per step.
 *   brink grow [MIB]
 *     Keeps 50 blocks of 1 KiB (grow_site) per step and mallocs and frees 64 blocks of 512 B
 *     (churn_site), touching every byte, until a memory limit ends it; gives up with status 3
 *     after MIB MiB (default 4096).
 *   brink address-space
 *     Keeps 1 MiB blocks (as_site) until malloc fails (RLIMIT_AS), then frees them all and
 *     exits 0; prints the bytes it held at the failure.
 * Built with -g -O0; the sites are the functions named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static void write_number(const char* path, unsigned long long value) {
  FILE* f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  fprintf(f, "%llu\n", value);
  fclose(f);
}

NOINLINE static void* step_site(size_t size) {
  char* p = malloc(size);
  if (p != NULL) memset(p, 1, size);
  return p;
}

NOINLINE static void* grow_site(void) {
  char* p = malloc(1024);
  if (p != NULL) memset(p, 2, 1024);
  return p;
}

NOINLINE static void churn_site(void) {
  void* blocks[64];
  for (int i = 0; i < 64; ++i) {
    blocks[i] = malloc(512);
    if (blocks[i] != NULL) memset(blocks[i], 3, 512);
  }
  for (int i = 0; i < 64; ++i) free(blocks[i]);
}

NOINLINE static void* as_site(void) { return malloc(1 << 20); }

static int fake(int argc, char** argv) {
  if (argc < 4) return 2;
  const char* usage_file = argv[2];
  unsigned long long limit = strtoull(argv[3], NULL, 10);
  const char* stat_file = argc > 4 ? argv[4] : NULL;
  static const int shares[] = {50, 91, 92, 96, 99, 40, 91, 95};
  unsigned long long kept = 0;
  for (size_t s = 0; s < sizeof(shares) / sizeof(shares[0]); ++s) {
    if (stat_file != NULL && shares[s] == 95) {
      FILE* f = fopen(stat_file, "w");
      if (f == NULL) return 2;
      fprintf(f, "total_cache %llu\ntotal_inactive_file %llu\ntotal_active_file 0\n",
              limit * 30 / 100, limit * 30 / 100);
      fclose(f);
    }
    write_number(usage_file, limit * (unsigned long long)shares[s] / 100);
    /* allocwatch checks at most every 250 us: the step's first check sees the new figure */
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    for (int i = 0; i < 8; ++i) {
      if (step_site(256 * 1024) == NULL) return 1;
      kept += 256 * 1024;
    }
    printf("%llu\n", kept);
    fflush(stdout);
  }
  return 0;
}

void* volatile g_last; /* the blocks grow() keeps are never freed */

static int grow(long mib) {
  for (long step = 0; step < mib * 1024 / 50; ++step) {
    for (int i = 0; i < 50; ++i) g_last = grow_site();
    churn_site();
  }
  return 3;
}

static int address_space(void) {
  void** blocks = malloc(sizeof(void*) * 65536);
  if (blocks == NULL) return 1;
  size_t n = 0;
  while (n < 65536) {
    void* p = as_site();
    if (p == NULL) break;
    memset(p, 4, 4096);
    blocks[n++] = p;
  }
  int error = errno;
  printf("%zu %d\n", n << 20, error);
  for (size_t i = 0; i < n; ++i) free(blocks[i]);
  free(blocks);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "fake") == 0) return fake(argc, argv);
  if (argc > 1 && strcmp(argv[1], "grow") == 0) return grow(argc > 2 ? atol(argv[2]) : 4096);
  if (argc > 1 && strcmp(argv[1], "address-space") == 0) return address_space();
  fprintf(stderr, "usage: brink fake USAGE_FILE LIMIT [STAT_FILE] | grow [MIB] | address-space\n");
  return 2;
}
