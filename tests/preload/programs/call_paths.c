// tests/preload/programs/call_paths.c: allocations reached by many paths to the same call
// sites, for checking stacks taken from the call-site cache against stacks unwound every time:
// callers at the same depth, recursion to many depths, frames moved by alloca, a signal handler
// on an alternate stack, and two threads. The same allocations in every run.
#include <alloca.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void* volatile sink;
static __thread unsigned kept;  // per thread: the same blocks leak in every run

__attribute__((noinline)) static void Leaf(size_t n, unsigned keep_every) {
  void* p = malloc(n);
  memset(p, 1, 1);
  sink = p;
  if (keep_every != 0 && ++kept % keep_every == 0) return;  // leaked on purpose
  free(p);
}
__attribute__((noinline)) static void Middle(size_t n, unsigned keep) { Leaf(n, keep); sink = 0; }
__attribute__((noinline)) static void PathA(size_t n) { Middle(n, 7); sink = 0; }
__attribute__((noinline)) static void PathB(size_t n) { Middle(n + 1, 11); sink = 0; }
__attribute__((noinline)) static void PathC(size_t n) { Middle(n + 2, 0); sink = 0; }

__attribute__((noinline)) static void Recurse(int depth, size_t n) {
  if (depth == 0) {
    Middle(n, 5);
    return;
  }
  Recurse(depth - 1, n);
  sink = 0;
}

__attribute__((noinline)) static void WithAlloca(size_t bytes, size_t n) {
  volatile char* buf = alloca(bytes);
  buf[0] = 0;
  Middle(n, 3);
  sink = 0;
}

static void OnSignal(int sig) {
  (void)sig;
  PathA(40);
  PathB(40);
}

static void Work(unsigned rounds, unsigned salt) {
  for (unsigned i = 0; i < rounds; ++i) {
    size_t n = 16 + (i * 7 + salt) % 200;
    PathA(n);
    PathB(n);
    PathC(n);
    Recurse((int)(i % 24), n);
    WithAlloca(16 * (i % 9), n);
  }
}

static void* Thread(void* arg) {
  Work(1500, (unsigned)(size_t)arg);
  return NULL;
}

int main(void) {
  static char alt[1 << 16];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt), .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 0; i < 40; ++i) {
    Work(50, (unsigned)i);
    raise(SIGUSR1);
  }
  pthread_t threads[2];
  for (size_t t = 0; t < 2; ++t) pthread_create(&threads[t], NULL, Thread, (void*)(t + 1));
  for (size_t t = 0; t < 2; ++t) pthread_join(threads[t], NULL);
  printf("call_paths: done\n");
  return 0;
}
