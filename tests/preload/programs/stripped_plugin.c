/* tests/preload/programs/stripped_plugin.c: the plugin plugin_host loads. Built with -g -O0
 * and a build-id; the test strips a copy and puts its debug info in a .build-id directory. */
#include <stdlib.h>

void* volatile g_plugin_sink;

__attribute__((noinline)) void* plugin_calloc(size_t size) {
  void* block = calloc(size, 1); // @plugin_calloc
  g_plugin_sink = block;
  return block;
}
