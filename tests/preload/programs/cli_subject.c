/* tests/preload/programs/cli_subject.c: the program `allocwatch run` runs in the CLI tests.
 *
 * Built with -g -O0. Usage: cli_subject MODE
 *   print    leaks 6 x 999 bytes in cli_leak(), writes a fixed text and binary bytes (a NUL
 *            among them) to stdout and one line to stderr, exits 0
 *   exit42   leaks as above, writes one line to stdout, exits 42
 *   sigterm  leaks as above, then raise(SIGTERM) (default action: death by the signal)
 *   args     writes each further argument on a line of its own to stdout, exits 0
 * Anything else (or more arguments in another mode): exit status 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

void* volatile g_leaked[6];

NOINLINE void cli_leak(void) {
  for (int i = 0; i < 6; ++i) g_leaked[i] = malloc(999);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* mode = argv[1];
  if (strcmp(mode, "args") == 0) {
    for (int i = 2; i < argc; ++i) printf("%s\n", argv[i]);
    return 0;
  }
  if (argc != 2) return 2;
  if (strcmp(mode, "print") == 0) {
    cli_leak();
    for (int i = 0; i < 500; ++i) printf("line %d: the quick brown fox\n", i);
    static const unsigned char kBinary[] = {0x00, 0x01, 0xff, 0x80, '\r', '\n', 0x7f};
    fwrite(kBinary, 1, sizeof(kBinary), stdout);
    fprintf(stderr, "cli_subject: a line on stderr\n");
    return 0;
  }
  if (strcmp(mode, "exit42") == 0) {
    cli_leak();
    printf("exiting with 42\n");
    return 42;
  }
  if (strcmp(mode, "sigterm") == 0) {
    cli_leak();
    fflush(stdout);
    raise(SIGTERM);
    return 3;  /* not reached */
  }
  return 2;
}
