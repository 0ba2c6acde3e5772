// tests/bench/grower.cc: a long-lived process whose memory keeps growing: a cache of records
// that evicts most of them but keeps a share forever, with steady work in between.
// Usage: grower [MILLIONS_OF_RECORDS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  auto records = static_cast<uint64_t>((argc > 1 ? std::atof(argv[1]) : 4.0) * 1e6);
  std::deque<std::unique_ptr<std::string>> recent;
  std::vector<std::unique_ptr<std::string>> kept;  // grows until exit
  uint64_t x = 1234567, n = 0;
  while (n < records) {
    for (int i = 0; i < 1000; ++i, ++n) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      recent.push_back(std::make_unique<std::string>(64 + x % 960, 'r'));
      if (recent.size() > 4096) {
        if (x % 50 == 0) kept.push_back(std::move(recent.front()));
        recent.pop_front();
      }
    }
  }
  std::printf("grower: %llu records, %zu kept\n", static_cast<unsigned long long>(n), kept.size());
  return 0;
}
