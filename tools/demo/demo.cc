// tools/demo/demo.cc: a small program with memory problems, for `tools/demo.sh`.
//
// It leaks from three call sites (a request log that is never trimmed, a cache that keeps
// growing, a calloc'd table nobody frees), frees everything else, and under an address-space
// limit it sets on itself (RLIMIT_AS) one large allocation fails with ENOMEM.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<std::string*> g_request_log;    // grows forever
std::map<int, std::vector<char>*> g_cache;  // grows forever
void* volatile g_table = nullptr;

__attribute__((noinline)) void HandleRequest(int id) {
  std::string scratch(256, 'x');  // freed: a temporary
  auto* entry = new std::string("request " + std::to_string(id) + " " + scratch.substr(0, 64));
  g_request_log.push_back(entry);  // never removed: leaks
}

__attribute__((noinline)) void CacheResult(int key) {
  g_cache[key] = new std::vector<char>(4096, static_cast<char>(key));
}

__attribute__((noinline)) void LoadConfig() { g_table = calloc(512, 1024); }

uint64_t AddressSpaceBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return uint64_t{pages} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

__attribute__((noinline)) void* ReserveBigBuffer(size_t bytes) { return malloc(bytes); }

}  // namespace

int main() {
  LoadConfig();
  for (int round = 0; round < 25; ++round) {
    for (int i = 0; i < 200; ++i) HandleRequest(round * 200 + i);
    for (int i = 0; i < 20; ++i) CacheResult(round * 20 + i);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Limit the address space to what is in use plus 256 MiB, then ask for 1 GiB.
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = AddressSpaceBytes() + (256u << 20);
  if (setrlimit(RLIMIT_AS, &limit) != 0) std::perror("setrlimit");
  void* big = ReserveBigBuffer(size_t{1} << 30);
  int err = errno;
  if (big == nullptr) {
    std::printf("demo: 1 GiB allocation failed as expected under RLIMIT_AS: %s\n",
                std::strerror(err));
  } else {
    std::printf("demo: 1 GiB allocation unexpectedly succeeded\n");
    free(big);
  }
  std::printf("demo: %zu requests logged, %zu cache entries\n", g_request_log.size(),
              g_cache.size());
  return 0;
}
