// tests/hostile/programs/plugin.c: a library the dlopen case loads and unloads in a loop.
#include <stdlib.h>
#include <string.h>

static char* volatile g_buffer;

__attribute__((constructor)) static void plugin_init(void) { g_buffer = malloc(1234); }
__attribute__((destructor)) static void plugin_fini(void) { free(g_buffer); }

long hostile_plugin_work(int round) {
  char* p = malloc(100 + (size_t)round % 50);
  memset(p, round & 0xff, 100);
  long v = p[0] + round;
  free(p);
  return v;
}
