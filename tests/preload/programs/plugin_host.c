/* tests/preload/programs/plugin_host.c: a host that loads a plugin by the name it is given (a
 * relative path, or a bare name found through LD_LIBRARY_PATH), leaks one calloc'd block of
 * argv[2] bytes from inside the plugin, changes directory to argv[3] and closes the plugin
 * before it exits. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef void* (*CallocFn)(size_t);

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: plugin_host PLUGIN SIZE DIRECTORY\n");
    return 2;
  }
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 2;
  }
  CallocFn plugin_calloc = (CallocFn)dlsym(handle, "plugin_calloc");
  if (plugin_calloc == NULL) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return 2;
  }
  plugin_calloc((size_t)strtoull(argv[2], NULL, 10));
  /* The plugin's name is relative: from here on it names nothing. */
  if (chdir(argv[3]) != 0) {
    perror("chdir");
    return 2;
  }
  if (dlclose(handle) != 0) {
    fprintf(stderr, "dlclose: %s\n", dlerror());
    return 2;
  }
  return 0;
}
