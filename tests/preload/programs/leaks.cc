// tests/preload/programs/leaks.cc: leaks from three known call sites, plus freed churn.
//
// Built with -g -O0. Each allocation happens in its own noinline helper so the report's call
// site (first frame outside the C/C++ runtime) is that helper. Pointers go to volatile globals
// so nothing can be elided. Output: one printf from report_results() (stdout is a file in the
// test, so glibc allocates exactly one stdout buffer of st_blksize bytes and keeps it).
#include <cstdio>
#include <cstdlib>

#define NOINLINE __attribute__((noinline))

namespace {
constexpr int kCallocBlocks = 3;
constexpr size_t kCallocSize = 300000;  // above the default mmap threshold (128 KiB)
constexpr int kReallocChains = 4;
constexpr int kNewArrays = 5;
constexpr size_t kNewArraySize = 777;
constexpr int kChurn = 50;
}  // namespace

void* volatile g_calloc_blocks[kCallocBlocks];
void* volatile g_realloc_blocks[kReallocChains];
char* volatile g_new_arrays[kNewArrays];
void* volatile g_sink;

extern "C" NOINLINE void leak_calloc() {
  for (int i = 0; i < kCallocBlocks; ++i) {
    g_calloc_blocks[i] = std::calloc(1, kCallocSize);  // @leak_calloc
  }
}

// malloc(16) -> realloc 100 -> realloc 1000 -> realloc 5000; the last block leaks.
extern "C" NOINLINE void leak_realloc_chain() {
  for (int i = 0; i < kReallocChains; ++i) {
    void* p = std::malloc(16);  // @chain_malloc
    p = std::realloc(p, 100);   // @chain_realloc_100
    p = std::realloc(p, 1000);  // @chain_realloc_1000
    p = std::realloc(p, 5000);  // @chain_realloc_5000
    g_realloc_blocks[i] = p;
  }
}

extern "C" NOINLINE void leak_new_array() {
  for (int i = 0; i < kNewArrays; ++i) {
    g_new_arrays[i] = new char[kNewArraySize];  // @leak_new_array
  }
}

// Allocations that are all released: none may be live at the end.
extern "C" NOINLINE void freed_churn() {
  for (int i = 0; i < kChurn; ++i) {
    void* a = std::malloc(64 + static_cast<size_t>(i));  // @churn_malloc
    g_sink = a;
    char* b = new char[200];  // @churn_new
    g_sink = b;
    int* c = new int(i);  // @churn_new_scalar
    g_sink = c;
    void* d = std::calloc(4, 1000);  // @churn_calloc
    g_sink = d;
    std::free(a);
    delete[] b;
    delete c;
    std::free(d);
  }
  void* big = std::malloc(1 << 20);  // @churn_big
  g_sink = big;
  std::free(big);
}

extern "C" NOINLINE void report_results() {
  std::printf("leaks done: %d calloc, %d realloc chains, %d new[]\n", kCallocBlocks, kReallocChains,
              kNewArrays);
}

int main() {
  leak_calloc();
  leak_realloc_chain();
  leak_new_array();
  freed_churn();
  report_results();
  return 0;
}
