/* tests/preload/programs/handoff.c: one thread records alone, then hands blocks to another.
 *
 * Built with -g -O0. Phase 1: the main thread churns malloc/free pairs alone for 150 ms (in
 * exact mode a thread that records alone shares clock reads among its events). Phase 2: a
 * consumer thread starts; the main thread allocates kHandoffs blocks in handoff_alloc and passes
 * them through a small ring to the consumer, which frees them in consumer_free, while the main
 * thread keeps churning blocks of the same size (so it is handed back addresses the consumer
 * freed). Halfway, the main thread churns alone for 250 ms while the consumer waits (the
 * recorder sees one thread at work again), then the hand-over resumes. Phase 3: the consumer
 * ends; the main thread churns alone for 100 ms more, then keeps kLeaked blocks from leak_site
 * and exits. Prints one line.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define kHandoffs 100000
#define kRing 64
#define kLeaked 7
#define kSize 48

static void* g_ring[kRing];
static int g_head, g_tail, g_done;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_changed = PTHREAD_COND_INITIALIZER;
void* volatile g_sink;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINLINE void owner_churn(long n) {
  for (long k = 0; k < n; ++k) {
    void* p = malloc(kSize);
    g_sink = p;
    free(p);
  }
}

static void churn_for(double seconds) {
  double end = now_s() + seconds;
  while (now_s() < end) owner_churn(1000);
}

NOINLINE void* handoff_alloc(void) { return malloc(kSize); }

NOINLINE void consumer_free(void* p) { free(p); }

static void* consumer(void* arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&g_lock);
    while (g_head == g_tail && !g_done) pthread_cond_wait(&g_changed, &g_lock);
    if (g_head == g_tail && g_done) {
      pthread_mutex_unlock(&g_lock);
      return NULL;
    }
    void* p = g_ring[g_tail % kRing];
    ++g_tail;
    pthread_cond_broadcast(&g_changed);
    pthread_mutex_unlock(&g_lock);
    consumer_free(p);
  }
}

NOINLINE void* leak_site(void) { return malloc(1000); }

int main(void) {
  churn_for(0.15);
  pthread_t thread;
  if (pthread_create(&thread, NULL, consumer, NULL) != 0) return 2;
  for (long i = 0; i < kHandoffs; ++i) {
    void* p = handoff_alloc();
    pthread_mutex_lock(&g_lock);
    while (g_head - g_tail == kRing) pthread_cond_wait(&g_changed, &g_lock);
    g_ring[g_head % kRing] = p;
    ++g_head;
    pthread_cond_broadcast(&g_changed);
    pthread_mutex_unlock(&g_lock);
    if (i % 8 == 0) owner_churn(4);
    if (i == kHandoffs / 2) churn_for(0.25);
  }
  pthread_mutex_lock(&g_lock);
  g_done = 1;
  pthread_cond_broadcast(&g_changed);
  pthread_mutex_unlock(&g_lock);
  pthread_join(thread, NULL);
  churn_for(0.1);
  static void* kept[kLeaked];
  for (int k = 0; k < kLeaked; ++k) kept[k] = leak_site();
  g_sink = kept;
  printf("handoff done\n");
  return 0;
}
