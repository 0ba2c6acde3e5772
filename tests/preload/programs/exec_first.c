/* tests/preload/programs/exec_first.c: leaks, then replaces itself with argv[1] (execv).
 *
 * Built with -g -O0. Leaks 2 x 4321 bytes in before_exec_leak(), then execv(argv[1], argv+1).
 * When execv fails (ENOENT expected), leaks 1 x 555 bytes in after_failed_exec_leak() and
 * returns 5 (6 on an unexpected errno). Prints nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_before[2];
void* volatile g_after;

NOINLINE void before_exec_leak(void) {
  for (int i = 0; i < 2; ++i) g_before[i] = malloc(4321);
}

NOINLINE void after_failed_exec_leak(void) { g_after = malloc(555); }

int main(int argc, char** argv) {
  if (argc < 2) return 7;
  before_exec_leak();
  execv(argv[1], argv + 1);
  if (errno != ENOENT) return 6;
  after_failed_exec_leak();
  return 5;
}
