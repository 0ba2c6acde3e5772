/* tests/preload/programs/rss_cases.c: programs whose resident memory the heap does not explain,
 * one per case the report names.
 *
 * Built with -g -O0. Usage: rss_cases CASE
 *   reserve    reserve_site() maps 64 GiB PROT_NONE (MAP_NORESERVE); commit_site() makes 8 MiB
 *              of it read-write with mprotect and touches it; commit_fixed_site() maps 4 MiB
 *              read-write over another part with MAP_FIXED (as the JVM commits its heap) and
 *              touches it; nothing is unmapped.
 *   fragment   4 threads, alive together (so each has an arena of its own), each allocate 32 MiB
 *              in 256-byte blocks, then free all but every 256th block and the last one: the
 *              arenas keep ~128 MiB free but resident while the live heap is ~0.5 MiB.
 *   mmaps      mmap_grow_site() maps and touches 1 MiB anonymous mappings, 96 of them, 5 ms
 *              apart; the heap stays flat.
 *   spike      spike_site() maps and touches 64 MiB, and unmaps them at once: a peak of
 *              resident memory that no snapshot a second apart sees.
 * Each case then sleeps 300 ms (snapshots see the end state) and exits 0. Prints one line of
 * what it did.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define MiB (1024UL * 1024UL)

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

NOINLINE static char* reserve_site(size_t bytes) {
  void* p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : (char*)p;
}

NOINLINE static int commit_site(char* p, size_t bytes) {
  if (mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0) return -1;
  memset(p, 1, bytes);
  return 0;
}

NOINLINE static int commit_fixed_site(char* p, size_t bytes) {
  void* q = mmap(p, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (q == MAP_FAILED) return -1;
  memset(q, 2, bytes);
  return 0;
}

static int reserve_case(void) {
  char* base = reserve_site(64UL << 30);
  if (base == NULL) {
    perror("mmap");
    return 1;
  }
  if (commit_site(base + 16 * MiB, 8 * MiB) != 0 || commit_fixed_site(base + 64 * MiB, 4 * MiB)) {
    perror("commit");
    return 1;
  }
  printf("reserved 64 GiB, committed 8 MiB by mprotect and 4 MiB by MAP_FIXED\n");
  return 0;
}

#define kThreads 4
#define kBlock 256
#define kBlocksPerThread (32 * MiB / kBlock)

static pthread_barrier_t g_all_done;

static void* fragment_thread(void* arg) {
  (void)arg;
  void** blocks = malloc(kBlocksPerThread * sizeof(void*));
  if (blocks == NULL) return NULL;
  for (size_t i = 0; i < kBlocksPerThread; ++i) {
    blocks[i] = malloc(kBlock);
    if (blocks[i] != NULL) memset(blocks[i], 3, kBlock);
  }
  for (size_t i = 0; i + 1 < kBlocksPerThread; ++i) {
    if (i % 256 != 0) free(blocks[i]);
  }
  free(blocks);
  pthread_barrier_wait(&g_all_done);  // none exits (and hands its arena on) before all are done
  return NULL;
}

static int fragment_case(void) {
  pthread_t threads[kThreads];
  pthread_barrier_init(&g_all_done, NULL, kThreads);
  for (int i = 0; i < kThreads; ++i) {
    if (pthread_create(&threads[i], NULL, fragment_thread, NULL) != 0) return 1;
  }
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  printf("%d threads left their arenas fragmented\n", kThreads);
  return 0;
}

NOINLINE static void* mmap_grow_site(size_t bytes) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  memset(p, 4, bytes);
  return p;
}

static int mmaps_case(void) {
  for (int i = 0; i < 96; ++i) {
    if (mmap_grow_site(MiB) == NULL) return 1;
    sleep_ms(5);
  }
  printf("mapped 96 MiB\n");
  return 0;
}

NOINLINE static int spike_site(size_t bytes) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  memset(p, 5, bytes);
  return munmap(p, bytes) == 0 ? 0 : 1;
}

static int spike_case(void) {
  int rc = spike_site(64 * MiB);
  printf("touched and unmapped 64 MiB\n");
  return rc;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rss_cases reserve|fragment|mmaps|spike\n");
    return 2;
  }
  int rc;
  if (strcmp(argv[1], "reserve") == 0) {
    rc = reserve_case();
  } else if (strcmp(argv[1], "fragment") == 0) {
    rc = fragment_case();
  } else if (strcmp(argv[1], "mmaps") == 0) {
    rc = mmaps_case();
  } else if (strcmp(argv[1], "spike") == 0) {
    rc = spike_case();
  } else {
    fprintf(stderr, "rss_cases: unknown case %s\n", argv[1]);
    return 2;
  }
  sleep_ms(300);
  return rc;
}
