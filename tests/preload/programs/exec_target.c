/* tests/preload/programs/exec_target.c: the program exec_first runs; leaks 7 x 123 bytes.
 *
 * Built with -g -O0. Leaks in target_leak(), prints one line, exits with status 0.
 */
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_target[7];

NOINLINE void target_leak(void) {
  for (int i = 0; i < 7; ++i) g_target[i] = malloc(123);
}

int main(void) {
  target_leak();
  printf("exec target done\n");
  return 0;
}
