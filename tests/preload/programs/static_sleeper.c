/* tests/preload/programs/static_sleeper.c: a statically linked program (no dynamic loader, so no
 * library can be loaded into it), for allocwatch attach to refuse.
 *
 * Built with -static. Usage: static_sleeper SECONDS: sleeps 10 ms at a time for SECONDS, then
 * prints "slept" and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  int steps = (argc > 1 ? atoi(argv[1]) : 1) * 100;
  for (int i = 0; i < steps; ++i) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  puts("slept");
  return 0;
}
