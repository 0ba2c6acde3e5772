// tests/bench/headroom_cost.cc: what one headroom snapshot costs on this machine: the one
// written with every failure (with the /proc/self/maps scan) and the periodic one (without);
// and the parts of the memory record written with every snapshot: /proc/self/status, glibc's
// mallinfo2 and the arena count (a /proc/self/maps scan, done only when RSS grew by a quarter).
// Usage: allocwatch_bench_headroom [ITERATIONS] [EXTRA_MAPPINGS]. Prints microseconds per
// snapshot (median of 5 rounds). Not run by ctest.
#include <malloc.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "preload/format/record_format.h"
#include "preload/procfs/headroom.h"

namespace {

double Seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

template <typename Fn>
double MedianMicros(int iterations, Fn fn) {
  std::vector<double> rounds;
  for (int round = 0; round < 5; ++round) {
    double start = Seconds();
    for (int i = 0; i < iterations; ++i) fn();
    rounds.push_back((Seconds() - start) * 1e6 / iterations);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

double HeadroomMicros(int iterations, bool scan_maps) {
  auto snapshot = std::make_unique<allocwatch::preload::HeadroomSnapshot>();
  return MedianMicros(iterations,
                      [&] { allocwatch::preload::TakeHeadroom("", 0, scan_maps, snapshot.get()); });
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  int extra = argc > 2 ? std::atoi(argv[2]) : 0;
  // Alternating protections split one reservation into `extra` mappings.
  long page = 4096;
  char* base =
      static_cast<char*>(mmap(nullptr, static_cast<size_t>(2 * extra + 2) * page, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  for (int i = 0; i < extra && base != MAP_FAILED; ++i) {
    mprotect(base + (2 * i + 1) * page, page, PROT_READ);
  }
  std::printf("failure snapshot (maps scan, %d extra mappings): %.1f us\n", extra,
              HeadroomMicros(iterations, true));
  std::printf("periodic snapshot (no maps scan):                %.1f us\n",
              HeadroomMicros(iterations, false));
  allocwatch::format::MemoryRecord memory{};
  std::printf(
      "memory record: /proc/self/status:               %.1f us\n",
      MedianMicros(iterations, [&] { allocwatch::preload::ReadStatusMemory("", &memory); }));
  volatile size_t sink = 0;
  std::printf("memory record: mallinfo2 (one arena):             %.1f us\n",
              MedianMicros(iterations, [&] { sink = sink + mallinfo2().arena; }));
  uint64_t heaps = 0;
  std::printf("memory record: arena count (maps scan, %d extra): %.1f us\n", extra,
              MedianMicros(iterations, [&] { allocwatch::preload::CountArenaHeaps("", &heaps); }));
  return 0;
}
