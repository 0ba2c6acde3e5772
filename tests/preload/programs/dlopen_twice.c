/* tests/preload/programs/dlopen_twice.c: allocations from a dlopen'd module that is closed
 * again before exit, loaded twice from one path and once more from a copy of it.
 *
 * argv[1]: the module; argv[2]: a copy of it under another path; argv[3]: the same code under
 * another build-id. Each load leaks one block of a size of its own from module_leak():
 *   1001: first load of argv[1], closed again;
 *   1002: second load of argv[1], closed again (the loader may or may not reuse the address);
 *   1003 and 1004: argv[1] and argv[2] loaded at the same time (so at different addresses),
 *                  both closed before exit;
 *   1006 and 1007: argv[1], closed, then argv[3], closed, loaded by one call site (so with
 *                  the same return addresses when the loader puts argv[3] where argv[1] was).
 * Then a block of 1005 bytes leaks from a function that never returns (it calls exit()): the
 * return address into its caller is the first byte after that caller's last instruction. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef void* (*LeakFn)(size_t);

void* volatile g_sink;

static void* Load(const char* path, size_t size) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    exit(2);
  }
  LeakFn leak = (LeakFn)dlsym(handle, "module_leak");
  if (leak == NULL) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    exit(2);
  }
  leak(size);
  return handle;
}

static void Close(void* handle) {
  if (dlclose(handle) != 0) {
    fprintf(stderr, "dlclose: %s\n", dlerror());
    exit(2);
  }
}

__attribute__((noinline, noreturn)) void leak_then_exit(void) {
  g_sink = malloc(1005); // @noreturn_malloc
  exit(0);
}

__attribute__((noinline)) void calls_noreturn(void) {
  leak_then_exit(); // @noreturn_call
}

__attribute__((noinline)) void after_calls_noreturn(void) {
  g_sink = malloc(1); /* never called; follows calls_noreturn in the code */
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: dlopen_twice MODULE COPY_OF_MODULE VARIANT_OF_MODULE\n");
    return 2;
  }
  Close(Load(argv[1], 1001));
  Close(Load(argv[1], 1002));
  void* first = Load(argv[1], 1003);
  void* second = Load(argv[2], 1004);
  Close(second);
  Close(first);
  const char* in_turn[2] = {argv[1], argv[3]};
  for (int i = 0; i < 2; ++i) Close(Load(in_turn[i], 1006 + (size_t)i));
  calls_noreturn();
}
