/* tests/preload/programs/threads.c: 4 threads allocating and freeing, with cross-thread frees.
 *
 * Built with -g -O0. Round 1: thread i allocates kBlocks blocks of block_size(i) bytes in
 * thread_alloc() and frees kSelfFreed of them itself (thread_free_own). After a barrier, thread
 * i frees kCrossFreed blocks that thread (i+1)%4 allocated (thread_free_other). The rest,
 * kBlocks - kSelfFreed - kCrossFreed = i+1... blocks per thread, leak (see kLeaked()).
 * Each thread also churns kChurn malloc/free pairs of its own.
 * The main thread prints nothing before the threads end; it joins them and prints one line.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))
#define kThreads 4
#define kBlocks 100
#define kSelfFreed 40
#define kChurn 250

static void* volatile g_blocks[kThreads][kBlocks];
void* volatile g_sink;
static pthread_barrier_t g_barrier;

static size_t block_size(int thread) { return 64 * (size_t)(thread + 1); }
/* Thread i leaks i+1 blocks: the last i+1 of its array are freed by nobody. */
static int leaked(int thread) { return thread + 1; }
static int cross_freed(int thread) { return kBlocks - kSelfFreed - leaked(thread); }

NOINLINE void thread_alloc(int self) {
  for (int k = 0; k < kBlocks; ++k) g_blocks[self][k] = malloc(block_size(self));
}

NOINLINE void thread_free_own(int self) {
  for (int k = 0; k < kSelfFreed; ++k) free(g_blocks[self][k]);
}

/* Frees blocks the next thread allocated. */
NOINLINE void thread_free_other(int self) {
  int other = (self + 1) % kThreads;
  for (int k = kSelfFreed; k < kSelfFreed + cross_freed(other); ++k) free(g_blocks[other][k]);
}

NOINLINE void thread_churn(int self) {
  for (int k = 0; k < kChurn; ++k) {
    void* p = malloc(16 + (size_t)self);
    g_sink = p;
    free(p);
  }
}

static void* worker(void* arg) {
  int self = (int)(long)arg;
  char name[16];
  snprintf(name, sizeof(name), "worker%d", self);
  pthread_setname_np(pthread_self(), name);
  thread_alloc(self);
  thread_churn(self);
  pthread_barrier_wait(&g_barrier);
  thread_free_own(self);
  thread_free_other(self);
  return NULL;
}

int main(void) {
  pthread_t threads[kThreads];
  pthread_barrier_init(&g_barrier, NULL, kThreads);
  for (long i = 0; i < kThreads; ++i) {
    if (pthread_create(&threads[i], NULL, worker, (void*)i) != 0) return 2;
  }
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  pthread_barrier_destroy(&g_barrier);
  printf("threads done\n");
  return 0;
}
