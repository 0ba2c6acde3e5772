// tests/bench/churn.cc: malloc/free churn of mixed small sizes, 1 or more threads.
// Usage: churn [THREADS] [MILLIONS_OF_OPS_PER_THREAD]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

uint64_t Work(unsigned seed, long ops) {
  constexpr int kSlots = 1024;
  void* slots[kSlots] = {};
  uint64_t x = seed * 2654435761u + 1, sum = 0;
  for (long i = 0; i < ops; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int slot = static_cast<int>(x % kSlots);
    free(slots[slot]);
    size_t size = 8 + (x >> 20) % 256;
    slots[slot] = malloc(size);
    static_cast<char*>(slots[slot])[0] = static_cast<char>(i);
    sum += reinterpret_cast<uintptr_t>(slots[slot]) & 0xff;
  }
  for (void* p : slots) free(p);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  long ops = static_cast<long>((argc > 2 ? std::atof(argv[2]) : 5.0) * 1e6);
  std::vector<std::thread> pool;
  std::vector<uint64_t> sums(threads);
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sums[t] = Work(t + 1, ops); });
  for (auto& th : pool) th.join();
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  std::printf("churn: %d threads x %ld ops, checksum %llu\n", threads, ops,
              static_cast<unsigned long long>(total));
  return 0;
}
