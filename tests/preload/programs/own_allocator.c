/* tests/preload/programs/own_allocator.c: a program with its own allocator linked in (as one
 * with jemalloc or tcmalloc linked statically): the executable defines malloc, free, calloc
 * and realloc, so every call of the program and of the C library goes to it, never to the
 * allocator allocwatch wraps. Its memory comes from raw mmap system calls.
 *
 * Built with -g -O0. Usage: own_allocator
 *   grow_site() keeps 96 MiB in 64 KiB blocks, touched, 1 MiB every 8 ms; then it maps 3000
 *   pages one by one (so allocwatch's tables of mappings grow), sleeps 300 ms and exits 0
 *   without freeing anything. Prints the bytes it kept and how many times its __libc_malloc
 *   was called: as Chromium's allocator shim does, it defines glibc's __libc_malloc and
 *   __libc_free too, and nothing of allocwatch's may land in them (allocwatch would then wait
 *   for the program's allocator lock under its own, a deadlock when the program maps memory
 *   under its lock).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* A bump allocator over 1 GiB of address space: blocks carry their size in front. */
static char* g_arena;
static size_t g_used;
#define kArenaBytes (1UL << 30)

static void* raw_map(size_t bytes) {
  long p = syscall(SYS_mmap, NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p < 0 && p > -4096 ? NULL : (void*)p;
}

void* malloc(size_t size) {
  if (g_arena == NULL && (g_arena = raw_map(kArenaBytes)) == NULL) return NULL;
  size_t need = (size + 16 + 15) & ~(size_t)15;
  if (need < size || g_used + need > kArenaBytes) return NULL;
  char* p = g_arena + g_used;
  g_used += need;
  *(size_t*)p = size;
  return p + 16;
}

void free(void* p) { (void)p; }

static volatile unsigned long g_libc_calls;
void* __libc_malloc(size_t size) {
  ++g_libc_calls;
  return malloc(size);
}
void __libc_free(void* p) {
  ++g_libc_calls;
  free(p);
}

void* calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) return NULL;
  return malloc(total); /* fresh pages are zero and nothing is reused */
}

void* realloc(void* old, size_t size) {
  void* p = malloc(size);
  if (p != NULL && old != NULL) {
    size_t was = *(size_t*)((char*)old - 16);
    memcpy(p, old, was < size ? was : size);
  }
  return p;
}

NOINLINE static void* grow_site(size_t bytes) {
  char* p = malloc(bytes);
  if (p != NULL) memset(p, 5, bytes);
  return p;
}

int main(void) {
  const size_t block = 64 * 1024;
  size_t kept = 0;
  for (int i = 0; i < 96 * 16; ++i) {
    if (grow_site(block) == NULL) return 1;
    kept += block;
    if (i % 16 == 0) {
      struct timespec t = {0, 8000000L};
      nanosleep(&t, NULL);
    }
  }
  for (int i = 0; i < 3000; ++i) {
    if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
      return 1;
    }
  }
  printf("kept %zu bytes, __libc_malloc calls %lu\n", kept, g_libc_calls);
  struct timespec t = {0, 300000000L};
  nanosleep(&t, NULL);
  return 0;
}
