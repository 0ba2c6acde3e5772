// tests/html/programs/html_subject.cc: a program whose recording exercises every part of the
// HTML report: memory that grows over several snapshots (grow_cache), blocks leaked at exit
// (leak_config), a mapping left mapped (map_arena), a large temporary that makes the peak
// (peak_scratch: live at the peak, freed before exit) and one failed allocation
// (fail_huge_alloc: ENOMEM).
//
// Built with -g -O0; every allocation sits in a noinline helper whose name is its call site.
// Pointers go to volatile globals so nothing is elided. Exit status 0 when the failed
// allocation failed as glibc documents (NULL, errno ENOMEM).
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#define NOINLINE __attribute__((noinline))

namespace {
constexpr int kGrowSteps = 12;
constexpr size_t kGrowBlock = 64 * 1024;
constexpr int kGrowBlocksPerStep = 4;
constexpr long kStepNanoseconds = 25 * 1000 * 1000;  // several snapshots at a 20 ms interval
constexpr int kConfigBlocks = 3;
constexpr size_t kConfigSize = 1000;
constexpr size_t kArenaSize = 256 * 1024;
constexpr size_t kScratchSize = 8 * 1024 * 1024;
}  // namespace

void* volatile g_cache[kGrowSteps * kGrowBlocksPerStep];
void* volatile g_config[kConfigBlocks];
void* volatile g_arena;
void* volatile g_sink;
volatile size_t g_huge = SIZE_MAX / 2;

extern "C" NOINLINE void grow_cache(int step) {
  for (int i = 0; i < kGrowBlocksPerStep; ++i) {
    g_cache[step * kGrowBlocksPerStep + i] = std::malloc(kGrowBlock);
  }
}

extern "C" NOINLINE void leak_config() {
  for (int i = 0; i < kConfigBlocks; ++i) g_config[i] = std::malloc(kConfigSize);
}

extern "C" NOINLINE void map_arena() {
  g_arena = mmap(nullptr, kArenaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

extern "C" NOINLINE void peak_scratch() {
  char* volatile p = static_cast<char*>(std::malloc(kScratchSize));
  g_sink = p;
  std::free(p);
}

extern "C" NOINLINE void* fail_huge_alloc() { return std::malloc(g_huge); }

int main() {
  leak_config();
  map_arena();
  const timespec step{0, kStepNanoseconds};
  for (int s = 0; s < kGrowSteps; ++s) {
    grow_cache(s);
    if (s == kGrowSteps / 2) peak_scratch();  // 8 MiB over the 1.75 MiB grown so far: the peak
    nanosleep(&step, nullptr);
  }
  errno = 0;
  void* p = fail_huge_alloc();
  int saved = errno;
  g_sink = p;
  if (p != nullptr || saved != ENOMEM) {
    std::fprintf(stderr, "html_subject: huge malloc gave %p errno %d\n", p, saved);
    return 1;
  }
  return 0;
}
