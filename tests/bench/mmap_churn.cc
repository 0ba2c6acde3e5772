// tests/bench/mmap_churn.cc: mmap, mremap and munmap of 64 KiB to 4 MiB regions, each touched.
// Usage: mmap_churn [ITERATIONS]
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 40000;
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t x = 2463534242ULL, checksum = 0;
  constexpr int kSlots = 32;
  void* slots[kSlots] = {};
  size_t sizes[kSlots] = {};
  for (long i = 0; i < iterations; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int s = static_cast<int>(x % kSlots);
    if (slots[s] != nullptr && (x >> 8) % 3 == 0) {
      size_t grown = sizes[s] * 2;  // grow in place or move
      void* p = mremap(slots[s], sizes[s], grown, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) return 1;
      static_cast<char*>(p)[grown - 1] = 1;
      slots[s] = p, sizes[s] = grown;
      continue;
    }
    if (slots[s] != nullptr) munmap(slots[s], sizes[s]);
    size_t size = static_cast<size_t>(page) * (16 << ((x >> 16) % 5));  // 64 KiB .. 1 MiB
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    static_cast<char*>(p)[0] = 1;
    checksum += reinterpret_cast<uintptr_t>(p) >> 12 & 0xff;
    slots[s] = p, sizes[s] = size;
  }
  for (int s = 0; s < kSlots; ++s) {
    if (slots[s] != nullptr) munmap(slots[s], sizes[s]);
  }
  std::printf("mmap_churn: %ld iterations, checksum %llu\n", iterations,
              static_cast<unsigned long long>(checksum));
  return 0;
}
