// tests/hostile/programs/static_hello.c: a statically linked program (LD_PRELOAD cannot reach it).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char* volatile p = malloc(100);
  puts("static: hello");
  free(p);
  return 6;
}
