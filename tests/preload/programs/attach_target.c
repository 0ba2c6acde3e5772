/* tests/preload/programs/attach_target.c: a running multi-threaded program for allocwatch attach.
 *
 * Built with -g -O0. Usage: attach_target THREADS [undumpable]
 *   Starts THREADS worker threads that each allocate, fill and free blocks of 1 to 512 bytes
 *   (churn_site) with a pause of 200 microseconds every 64 blocks, and checksum what they
 *   wrote. The main thread reads commands from stdin, one per line:
 *     leak N   leak_site() keeps N blocks of 4000 bytes; replies "leaked N"
 *     check    replies "checked alive" when the workers made progress over 50 ms (each
 *              verifies every block it filled; a wrong byte aborts), else "checked stuck"
 *     quit     stops the workers, frees nothing, prints "bye" and exits with status 7
 *   Replies go to stdout, flushed, so a test can wait for each. With `undumpable` it makes
 *   itself non-dumpable first (PR_SET_DUMPABLE 0), which forbids ptrace to its own user.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static atomic_int g_stop;
static atomic_ulong g_sum;
static void* volatile g_leaked[100000];
static int g_leaked_count;

NOINLINE void* leak_site(void) { return malloc(4000); }
NOINLINE void* churn_site(size_t size) { return malloc(size); }

static void* worker(void* arg) {
  unsigned seed = (unsigned)(size_t)arg;
  unsigned long sum = 0;
  for (unsigned long i = 0; !atomic_load(&g_stop); ++i) {
    size_t size = 1 + (seed = seed * 1103515245u + 12345u) % 512;
    unsigned char* p = churn_site(size);
    memset(p, (int)(i & 0xff), size);
    for (size_t k = 0; k < size; ++k) {
      if (p[k] != (unsigned char)(i & 0xff)) abort();
    }
    sum += p[size - 1] + size;
    free(p);
    if ((i & 63) == 0) {
      struct timespec ts = {0, 200 * 1000};
      nanosleep(&ts, NULL);
      atomic_fetch_add(&g_sum, sum);
      sum = 0;
    }
  }
  atomic_fetch_add(&g_sum, sum);
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2 && strcmp(argv[2], "undumpable") == 0) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  pthread_t ids[64];
  if (threads > 64) threads = 64;
  for (int i = 0; i < threads; ++i) pthread_create(&ids[i], NULL, worker, (void*)(size_t)(i + 1));
  char line[256];
  while (fgets(line, sizeof(line), stdin) != NULL) {
    int n = 0;
    if (sscanf(line, "leak %d", &n) == 1) {
      for (int i = 0; i < n && g_leaked_count < 100000; ++i) g_leaked[g_leaked_count++] = leak_site();
      printf("leaked %d\n", n);
    } else if (strncmp(line, "check", 5) == 0) {
      unsigned long before = atomic_load(&g_sum);
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
      printf("checked %s\n", threads == 0 || atomic_load(&g_sum) != before ? "alive" : "stuck");
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    }
    fflush(stdout);
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < threads; ++i) pthread_join(ids[i], NULL);
  printf("bye %d\n", g_leaked_count);
  fflush(stdout);
  return 7;
}
