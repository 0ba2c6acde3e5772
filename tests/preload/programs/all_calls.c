/* tests/preload/programs/all_calls.c: every function liballocwatch.so interposes, once or more.
 *
 * Built with -g -O0. Each call sits in its own noinline helper so the recorded call site names
 * it. The program checks results and errno itself against what glibc gives: every successful
 * call must leave errno untouched (it is set to a sentinel before), every failing call must set
 * the documented errno. It exits 1 (after listing the mismatches on stderr) when anything is
 * off, so the test runs it both with and without the preload. Stdout holds only values that do
 * not depend on addresses, so the two runs print identical text.
 *
 * Live at exit (heap, requested bytes):  malloc 1000, calloc 10x123, realloc 3000 (grown from a
 * malloc(50)), realloc(NULL, 77), reallocarray 30x20, posix_memalign 512, aligned_alloc 256,
 * memalign 300, valloc 100; plus glibc's stdout buffer. Freed: pvalloc, the realloc(p, 0) block.
 * Mappings live at exit: do_mmap 3 pages (4 mapped, the second unmapped; a misaligned munmap
 * then fails), do_mmap_round 1 page (2 mapped, munmap(second page, 1 byte) unmaps the whole
 * second page), do_mmap64 2 pages, do_mremap 8 pages (grown from a 1-page mapping made in
 * do_mremap_source).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define SENTINEL 4242

static int g_failures = 0;
static size_t g_page = 0;
void* volatile g_keep[32];
volatile size_t g_huge = SIZE_MAX / 2;            /* volatile: no compile-time size warnings */
volatile size_t g_bad_alignment = SIZE_MAX / 2 + 2; /* > SIZE_MAX/2+1: EINVAL in every glibc */
volatile size_t g_max = SIZE_MAX;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "all_calls: line %d: check failed: %s (errno %d)\n", __LINE__, #cond, \
              errno);                                                            \
      ++g_failures;                                                              \
    }                                                                            \
  } while (0)

NOINLINE void* do_malloc(size_t n) { return malloc(n); }
NOINLINE void* do_calloc(size_t n, size_t size) { return calloc(n, size); }
NOINLINE void* do_realloc_source(size_t n) { return malloc(n); }
NOINLINE void* do_realloc(void* p, size_t n) { return realloc(p, n); }
/* Through a volatile: GCC folds a literal realloc(NULL, n) into malloc(n), even at -O0. */
void* volatile g_null = NULL;
NOINLINE void* do_realloc_null(size_t n) { return realloc(g_null, n); }
NOINLINE void* do_realloc_zero_source(size_t n) { return malloc(n); }
NOINLINE void* do_realloc_zero(void* p) { return realloc(p, 0); }
NOINLINE void* do_realloc_fail(void* p) { return realloc(p, g_huge); }
NOINLINE void* do_reallocarray_new(size_t n, size_t size) { return reallocarray(g_null, n, size); }
NOINLINE void* do_reallocarray(void* p, size_t n, size_t size) {
  return reallocarray(p, n, size);
}
NOINLINE void* do_reallocarray_fail(void* p) { return reallocarray(p, g_max, 2); }
NOINLINE int do_posix_memalign(void** out, size_t alignment, size_t n) {
  return posix_memalign(out, alignment, n);
}
NOINLINE int do_posix_memalign_fail(void** out) { return posix_memalign(out, 3, 16); }
NOINLINE void* do_aligned_alloc(size_t alignment, size_t n) { return aligned_alloc(alignment, n); }
NOINLINE void* do_aligned_alloc_fail(void) { return aligned_alloc(g_bad_alignment, 16); }
NOINLINE void* do_memalign(size_t alignment, size_t n) { return memalign(alignment, n); }
NOINLINE void* do_valloc(size_t n) { return valloc(n); }
NOINLINE void* do_pvalloc(size_t n) { return pvalloc(n); }
NOINLINE void* do_calloc_fail(void) { return calloc(g_max, 2); }
NOINLINE void do_free(void* p) { free(p); }
NOINLINE void* do_mmap(size_t n) {
  return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
NOINLINE void* do_mmap_fail(void) {
  return mmap(NULL, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
NOINLINE void* do_mmap64(size_t n) {
  return mmap64(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
NOINLINE int do_munmap(void* p, size_t n) { return munmap(p, n); }
NOINLINE void* do_mmap_round(size_t n) {
  return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
NOINLINE int do_munmap_round(void* p) { return munmap(p, 1); }
NOINLINE int do_munmap_fail(void* p, size_t n) { return munmap(p, n); }
NOINLINE void* do_mremap_source(size_t n) {
  return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
NOINLINE void* do_mremap(void* p, size_t old_n, size_t new_n) {
  return mremap(p, old_n, new_n, MREMAP_MAYMOVE);
}
NOINLINE void* do_mremap_fail(void* p, size_t n) { return mremap(p, n, n * 2, 0x7f0); }

static void heap_calls(void) {
  errno = SENTINEL;
  void* p = do_malloc(1000);
  CHECK(p != NULL && errno == SENTINEL);
  memset(p, 1, 1000);
  g_keep[0] = p;
  size_t usable = malloc_usable_size(p);
  CHECK(usable >= 1000 && errno == SENTINEL);
  CHECK(malloc_usable_size(NULL) == 0);
  printf("malloc_usable_size(malloc(1000)) = %zu\n", usable);

  errno = SENTINEL;
  unsigned char* c = do_calloc(10, 123);
  CHECK(c != NULL && errno == SENTINEL);
  for (int i = 0; i < 1230; ++i) CHECK(c[i] == 0);
  g_keep[1] = c;

  errno = SENTINEL;
  CHECK(do_calloc_fail() == NULL && errno == ENOMEM);

  errno = SENTINEL;
  char* r = do_realloc_source(50);
  CHECK(r != NULL && errno == SENTINEL);
  memset(r, 7, 50);
  r = do_realloc(r, 3000);
  CHECK(r != NULL && errno == SENTINEL && r[49] == 7);
  g_keep[2] = r;
  /* A failing realloc keeps the old block (still live, still the do_realloc site's). */
  errno = SENTINEL;
  CHECK(do_realloc_fail(r) == NULL && errno == ENOMEM);
  CHECK(r[49] == 7);
  printf("malloc_usable_size(realloc(.., 3000)) = %zu\n", malloc_usable_size(r));

  errno = SENTINEL;
  void* rn = do_realloc_null(77);
  CHECK(rn != NULL && errno == SENTINEL);
  g_keep[3] = rn;

  errno = SENTINEL;
  void* rz = do_realloc_zero_source(40);
  CHECK(rz != NULL);
  /* glibc: realloc(p, 0) frees p and returns NULL, errno untouched. */
  CHECK(do_realloc_zero(rz) == NULL && errno == SENTINEL);

  errno = SENTINEL;
  void* ra = do_reallocarray_new(10, 20);
  CHECK(ra != NULL && errno == SENTINEL);
  ra = do_reallocarray(ra, 30, 20);
  CHECK(ra != NULL && errno == SENTINEL);
  g_keep[4] = ra;
  errno = SENTINEL;
  CHECK(do_reallocarray_fail(ra) == NULL && errno == ENOMEM);

  void* pm = NULL;
  errno = SENTINEL;
  CHECK(do_posix_memalign(&pm, 64, 512) == 0 && errno == SENTINEL);
  CHECK(pm != NULL && ((uintptr_t)pm % 64) == 0);
  g_keep[5] = pm;
  void* untouched = (void*)0x1234;
  errno = SENTINEL;
  /* posix_memalign reports through its result and leaves errno and *out alone. */
  CHECK(do_posix_memalign_fail(&untouched) == EINVAL && errno == SENTINEL);
  CHECK(untouched == (void*)0x1234);

  errno = SENTINEL;
  void* aa = do_aligned_alloc(64, 256);
  CHECK(aa != NULL && ((uintptr_t)aa % 64) == 0 && errno == SENTINEL);
  g_keep[6] = aa;
  errno = SENTINEL;
  CHECK(do_aligned_alloc_fail() == NULL && errno == EINVAL);

  errno = SENTINEL;
  void* ma = do_memalign(128, 300);
  CHECK(ma != NULL && ((uintptr_t)ma % 128) == 0 && errno == SENTINEL);
  g_keep[7] = ma;

  errno = SENTINEL;
  void* va = do_valloc(100);
  CHECK(va != NULL && ((uintptr_t)va % g_page) == 0 && errno == SENTINEL);
  g_keep[8] = va;

  errno = SENTINEL;
  void* pv = do_pvalloc(100);
  CHECK(pv != NULL && ((uintptr_t)pv % g_page) == 0 && errno == SENTINEL);
  printf("malloc_usable_size(pvalloc(100)) >= page: %d\n", malloc_usable_size(pv) >= g_page);
  errno = SENTINEL;
  do_free(pv);
  CHECK(errno == SENTINEL);
  do_free(NULL);
  CHECK(errno == SENTINEL);
}

static void mapping_calls(void) {
  errno = SENTINEL;
  char* m = do_mmap(4 * g_page);
  CHECK(m != MAP_FAILED && errno == SENTINEL);
  memset(m, 1, 4 * g_page);
  /* Unmapping the second page splits the mapping into pages [0] and [2, 4). */
  CHECK(do_munmap(m + g_page, g_page) == 0 && errno == SENTINEL);
  CHECK(m[0] == 1 && m[2 * g_page] == 1 && m[3 * g_page] == 1);
  /* A misaligned munmap fails with EINVAL and unmaps nothing. */
  errno = SENTINEL;
  CHECK(do_munmap_fail(m + 1, g_page) == -1 && errno == EINVAL);
  CHECK(m[0] == 1 && m[2 * g_page] == 1);
  g_keep[10] = m;

  /* munmap rounds the length up to whole pages: munmap(p + page, 1) unmaps the second page. */
  errno = SENTINEL;
  char* halves = do_mmap_round(2 * g_page);
  CHECK(halves != MAP_FAILED && errno == SENTINEL);
  CHECK(do_munmap_round(halves + g_page) == 0 && errno == SENTINEL);
  unsigned char resident[2];
  CHECK(mincore(halves, g_page, resident) == 0);
  CHECK(mincore(halves + g_page, g_page, resident) == -1 && errno == ENOMEM);
  g_keep[13] = halves;

  errno = SENTINEL;
  CHECK(do_mmap_fail() == MAP_FAILED && errno == EINVAL);

  errno = SENTINEL;
  char* m64 = do_mmap64(2 * g_page);
  CHECK(m64 != MAP_FAILED && errno == SENTINEL);
  m64[0] = 1;
  g_keep[11] = m64;

  errno = SENTINEL;
  char* src = do_mremap_source(g_page);
  CHECK(src != MAP_FAILED && errno == SENTINEL);
  src[0] = 42;
  char* grown = do_mremap(src, g_page, 8 * g_page);
  CHECK(grown != MAP_FAILED && errno == SENTINEL && grown[0] == 42);
  grown[8 * g_page - 1] = 1;
  g_keep[12] = grown;
  errno = SENTINEL;
  CHECK(do_mremap_fail(grown, 8 * g_page) == MAP_FAILED && errno == EINVAL);
}

int main(void) {
  g_page = (size_t)sysconf(_SC_PAGESIZE);
  heap_calls();
  mapping_calls();
  printf("all_calls: %d failed checks\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
