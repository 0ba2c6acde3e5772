// tests/hostile/programs/jemalloc_api.c: allocates through jemalloc's own API (mallocx,
// sdallocx), which no malloc hook sees; the memory comes from mmap, which the hooks do see.
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <string.h>

static void* volatile g_sink;

int main(void) {
  enum { kBlocks = 16, kSize = 4 << 20 };
  void* blocks[kBlocks];
  for (int i = 0; i < kBlocks; ++i) {
    blocks[i] = mallocx(kSize, MALLOCX_ZERO);
    if (blocks[i] == NULL) return 1;
    memset(blocks[i], i, kSize);
    g_sink = blocks[i];
  }
  size_t small = 0;
  for (int i = 0; i < 10000; ++i) {
    void* p = mallocx(48 + (size_t)(i % 100), 0);
    g_sink = p;
    small += sallocx(p, 0) > 0;
    sdallocx(p, 48 + (size_t)(i % 100), 0);
  }
  for (int i = 0; i < kBlocks / 2; ++i) sdallocx(blocks[i], kSize, 0);  // the rest stays live
  printf("jemalloc: %d blocks of %d bytes, %zu small\n", kBlocks, kSize, small);
  return 0;
}
