/* tests/preload/programs/dl_module.c: a module that dlopen_twice loads, closes and loads
 * again. Built with -g -O0 as a plain module (no SONAME), so that a copy of the file under
 * another path is loaded as a second object. */
#include <stdlib.h>

void* volatile g_module_sink;

__attribute__((noinline)) void* module_leak(size_t size) {
  void* block = malloc(size); // @module_malloc
  g_module_sink = block;
  return block;
}
