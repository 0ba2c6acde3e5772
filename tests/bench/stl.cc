// tests/bench/stl.cc: an STL-heavy workload: strings, vectors, maps, as a typical C++ program
// allocates (many small, short-lived blocks among real work).
// Usage: stl [ROUNDS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::string Word(uint64_t& x) {
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  std::string w;
  int n = 3 + static_cast<int>(x % 14);  // some fit the short-string buffer, most do not
  for (int i = 0; i < n; ++i) w.push_back(static_cast<char>('a' + (x >> (i * 3)) % 26));
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
  uint64_t x = 88172645463325252ULL, checksum = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::string> words;
    for (int i = 0; i < 20000; ++i) words.push_back(Word(x));
    std::unordered_map<std::string, int> freq;
    for (const std::string& w : words) ++freq[w];
    std::map<std::string, std::vector<int>> index;
    for (size_t i = 0; i < words.size(); i += 3) index[words[i]].push_back(static_cast<int>(i));
    std::vector<std::string> sorted(words.begin(), words.end());
    std::sort(sorted.begin(), sorted.end());
    std::string joined;
    for (size_t i = 0; i < sorted.size(); i += 50) joined += sorted[i] + ",";
    checksum += freq.size() + index.size() + joined.size();
  }
  std::printf("stl: %d rounds, checksum %llu\n", rounds, static_cast<unsigned long long>(checksum));
  return 0;
}
