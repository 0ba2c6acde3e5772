// tests/preload/programs/sampled.cc: a workload with known totals for the sampling tests.
//
// Four threads allocate through four call sites with sizes from 8 bytes to 8 MiB, free most
// blocks at once and keep a known share until exit. The program then prints, per site, the
// truth (bytes and blocks allocated, and still live at exit) and what the Horvitz-Thompson
// estimator's error depends on for the sampling period T in ALLOCWATCH_SAMPLE_BYTES: the sums
// of the per-allocation variances and the largest single term (see sampled_test.cc).
#include <pthread.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kSites = 4;
const char* const kSiteNames[kSites] = {"alloc_tiny", "alloc_small", "alloc_medium", "alloc_large"};
double g_period = 1;

struct Figures {
  double alloc_bytes = 0, alloc_count = 0, live_bytes = 0, live_count = 0;
  double var_alloc_bytes = 0, var_alloc_count = 0, var_live_bytes = 0, var_live_count = 0;
  double max_bytes_term = 0, max_count_term = 0;
  void Add(const Figures& o) {
    alloc_bytes += o.alloc_bytes, alloc_count += o.alloc_count;
    live_bytes += o.live_bytes, live_count += o.live_count;
    var_alloc_bytes += o.var_alloc_bytes, var_alloc_count += o.var_alloc_count;
    var_live_bytes += o.var_live_bytes, var_live_count += o.var_live_count;
    max_bytes_term = std::fmax(max_bytes_term, o.max_bytes_term);
    max_count_term = std::fmax(max_count_term, o.max_count_term);
  }
};

// The variance of the estimators for one allocation of s bytes: sampled with probability
// p = 1 - exp(-s/T) and weighted 1/p, or always recorded (weight 1, no variance) when s >= T.
void Account(Figures& f, double s, bool live) {
  double var_bytes = 0, var_count = 0;
  if (s < g_period) {
    double p = -std::expm1(-s / g_period);
    var_bytes = s * s * (1 - p) / p;
    var_count = (1 - p) / p;
    f.max_bytes_term = std::fmax(f.max_bytes_term, s / p);
    f.max_count_term = std::fmax(f.max_count_term, 1 / p);
  }
  f.alloc_bytes += s, f.alloc_count += 1;
  f.var_alloc_bytes += var_bytes, f.var_alloc_count += var_count;
  if (live) {
    f.live_bytes += s, f.live_count += 1;
    f.var_live_bytes += var_bytes, f.var_live_count += var_count;
  }
}

struct Worker {
  uint64_t rng;
  Figures sites[kSites];
  std::vector<void*> kept;
  uint64_t Next() {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
  }
};

// One call site per size class; a block is kept until exit or freed at once.
#define SITE(NAME, INDEX)                                                  \
  __attribute__((noinline)) void NAME(Worker& w, size_t size, bool keep) { \
    void* volatile p = std::malloc(size);                                  \
    if (p == nullptr) std::abort();                                        \
    static_cast<char*>(p)[0] = 1;                                          \
    Account(w.sites[INDEX], static_cast<double>(size), keep);              \
    if (keep) {                                                            \
      void* block = p;                                                     \
      w.kept.push_back(block);                                             \
    } else {                                                               \
      std::free(p);                                                        \
    }                                                                      \
  }
SITE(alloc_tiny, 0)
SITE(alloc_small, 1)
SITE(alloc_medium, 2)
SITE(alloc_large, 3)

void* Run(void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  w.kept.reserve(400000);  // before the workload: the vector's growth is not a site under test
  for (int i = 0; i < 1000000; ++i) {
    uint64_t r = w.Next();
    alloc_tiny(w, 8 + r % 57, r % 10 == 0);                                     // 8..64 bytes
    if (i % 4 == 0) alloc_small(w, 65 + (r >> 8) % 4032, (r >> 20) % 50 == 0);  // 65 B..4 KiB
    if (i % 512 == 0) alloc_medium(w, 4096 + (r >> 12) % (252 * 1024), (r >> 24) % 16 == 0);
    if (i % 40000 == 0) alloc_large(w, (256 << 10) + (r >> 16) % (8 << 20), (r >> 30) % 8 == 0);
  }
  return nullptr;
}

}  // namespace

int main() {
  const char* t = std::getenv("ALLOCWATCH_SAMPLE_BYTES");
  g_period = t != nullptr ? std::atof(t) : 524288;
  static Worker workers[kThreads];
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    workers[i].rng = 0x9E3779B97F4A7C15ULL * (i + 1);
    pthread_create(&threads[i], nullptr, Run, &workers[i]);
  }
  for (pthread_t th : threads) pthread_join(th, nullptr);
  for (int s = 0; s < kSites; ++s) {
    Figures f;
    for (const Worker& w : workers) f.Add(w.sites[s]);
    std::printf("%s %.0f %.0f %.0f %.0f %.6e %.6e %.6e %.6e %.6e %.6e\n", kSiteNames[s],
                f.alloc_bytes, f.alloc_count, f.live_bytes, f.live_count, f.var_alloc_bytes,
                f.var_alloc_count, f.var_live_bytes, f.var_live_count, f.max_bytes_term,
                f.max_count_term);
  }
  return 0;
}
