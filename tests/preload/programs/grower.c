/* tests/preload/programs/grower.c: a program whose memory grows steadily, for the report tests.
 *
 * Built with -g -O0. Usage: grower STEPS LEAK [FORK]
 *   pool_init()   one 65536-byte block at the start, kept to the end (a pool)
 *   grow_leak()   when LEAK is 1: one 4096-byte block per step, never freed (a steady leak)
 *   churn_temp()  per step: malloc(100) then free at once (a temporary allocation)
 * Steps are 10 ms apart (nanosleep). With FORK = 1 it forks first and both processes run the
 * steps; the parent waits for the child. Exit status 0.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_pool;
void* volatile g_leaks[10000];
void* volatile g_sink;

NOINLINE void pool_init(void) { g_pool = malloc(65536); }

NOINLINE void grow_leak(int i) { g_leaks[i] = malloc(4096); }

NOINLINE void churn_temp(void) {
  void* p = malloc(100);
  g_sink = p;
  free(p);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  int steps = atoi(argv[1]);
  int leak = atoi(argv[2]);
  int do_fork = argc > 3 && atoi(argv[3]) == 1;
  if (steps < 0 || steps > 10000) return 2;
  pool_init();
  pid_t child = do_fork ? fork() : -1;
  struct timespec step = {0, 10 * 1000 * 1000};
  for (int i = 0; i < steps; ++i) {
    if (leak) grow_leak(i);
    churn_temp();
    nanosleep(&step, NULL);
  }
  if (child > 0) {
    int status = 0;
    waitpid(child, &status, 0);
  }
  return 0;
}
