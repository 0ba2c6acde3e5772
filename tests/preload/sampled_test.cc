// tests/preload/sampled_test.cc: sampled-mode estimates against a workload with known totals
// (programs/sampled.cc: 4 threads, 4 call sites, sizes from 8 bytes to 8 MiB).
//
// The bound. Each allocation i of s_i bytes is recorded with probability p_i = 1 - exp(-s_i/T),
// independently of the others (the per-thread countdown is memoryless), and weighted 1/p_i
// (allocations of s_i >= T: always, weight 1). The error of a site's estimated bytes is then a
// sum of independent zero-mean terms X_i = (B_i/p_i - 1) s_i with |X_i| <= s_i/p_i <= M and
// total variance V = sum s_i^2 (1-p_i)/p_i (reference/sampling.md, section 8). Bernstein's
// inequality gives P(|error| >= t) <= 2 exp(-t^2 / (2 (V + M t / 3))); with L = ln(2/delta),
// t = L M / 3 + sqrt((L M / 3)^2 + 2 L V) makes that at most delta. The same holds for the
// block counts with terms 1/p_i. The test makes 16 checks with delta = 1e-6 / 16 each, so a
// correct sampler fails it at most once in a million runs (whatever the seed, which the preload
// draws from the clock), while a wrong weight (say, no 1/p) misses by orders of magnitude.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <sstream>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

struct Truth {
  double alloc_bytes, alloc_count, live_bytes, live_count;
  double var_alloc_bytes, var_alloc_count, var_live_bytes, var_live_count;
  double max_bytes_term, max_count_term;
};

double Bound(double variance, double max_term, double delta) {
  double l = std::log(2 / delta);
  double a = l * max_term / 3;
  return a + std::sqrt(a * a + 2 * l * variance);
}

TEST_CASE("sampled estimates per call site agree with the truth within the stated bound",
          "[sampled]") {
  constexpr uint64_t kPeriod = 16 * 1024;
  constexpr int kChecks = 16;
  constexpr double kDelta = 1e-6 / kChecks;
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.sample_bytes = kPeriod;
  options.timeout_seconds = 120;
  RunResult run = Run({PROGRAM_SAMPLED}, options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));

  std::map<std::string, Truth> truth;
  std::istringstream lines(run.out);
  std::string name;
  Truth t{};
  while (lines >> name >> t.alloc_bytes >> t.alloc_count >> t.live_bytes >> t.live_count >>
         t.var_alloc_bytes >> t.var_alloc_count >> t.var_live_bytes >> t.var_live_count >>
         t.max_bytes_term >> t.max_count_term) {
    truth[name] = t;
  }
  REQUIRE(truth.size() == 4);

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.warnings.empty());
  CHECK_FALSE(model.exact);
  CHECK(model.sample_bytes == kPeriod);
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));

  int checks = 0;
  for (const auto& [site, want] : truth) {
    report::SiteFigures got = sites.Sum("(anonymous namespace)::" + site);
    struct Metric {
      const char* what;
      double estimate, truth, variance, max_term;
    };
    const Metric metrics[] = {
        {"allocated bytes", got.alloc_bytes, want.alloc_bytes, want.var_alloc_bytes,
         want.max_bytes_term},
        {"allocated blocks", got.alloc_count, want.alloc_count, want.var_alloc_count,
         want.max_count_term},
        {"live bytes", got.live_bytes, want.live_bytes, want.var_live_bytes, want.max_bytes_term},
        {"live blocks", got.live_count, want.live_count, want.var_live_count, want.max_count_term},
    };
    for (const Metric& m : metrics) {
      double bound = Bound(m.variance, m.max_term, kDelta);
      INFO(site << " " << m.what << ": estimate " << m.estimate << ", truth " << m.truth
                << ", bound " << bound << " (" << 100 * bound / m.truth << "% of the truth)");
      CHECK(std::fabs(m.estimate - m.truth) <= bound);
      // The bound must be able to fail: it is well below the truth itself.
      CHECK(bound < 0.5 * m.truth);
      ++checks;
    }
  }
  CHECK(checks == kChecks);
  // Allocations of at least T bytes are all recorded, each with weight 1: exact figures.
  report::SiteFigures large = sites.Sum("(anonymous namespace)::alloc_large");
  CHECK(large.alloc_count == truth["alloc_large"].alloc_count);
  CHECK(large.live_bytes == truth["alloc_large"].live_bytes);
}

}  // namespace
}  // namespace allocwatch::preload_test

namespace allocwatch::preload_test {
namespace {

TEST_CASE("the period doubles when writing takes more than its budget, and samples say so",
          "[sampled]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.sample_bytes = 16 * 1024;
  options.interval_ms = 20;
  // A budget of 0%: any interval in which the recording was written doubles the period.
  options.extra_env = {"ALLOCWATCH_WRITE_BUDGET_PERCENT=0"};
  options.timeout_seconds = 120;
  RunResult run = Run({PROGRAM_SAMPLED}, options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);

  report::ProcessModel model = report::LoadProcess(files[0]);
  REQUIRE_FALSE(model.period_changes.empty());
  uint64_t period = 16 * 1024;
  for (const auto& change : model.period_changes) {
    CHECK(change.old_sample_bytes == period);
    CHECK(change.new_sample_bytes == 2 * period);
    CHECK(change.write_ns > 0);
    period = change.new_sample_bytes;
  }
  // Samples drawn after a change carry the period they were drawn with.
  std::set<uint32_t> periods;
  for (const report::RawRecord& r : ReadRecords(files[0]).records) {
    if (r.type == format::RecordType::kAlloc)
      periods.insert(As<format::AllocRecord>(r).sample_bytes);
  }
  INFO("periods seen: " << periods.size());
  CHECK(periods.count(16 * 1024) == 1);
  CHECK(periods.size() >= 2);
  for (uint32_t p : periods) CHECK(p <= period);
}

}  // namespace
}  // namespace allocwatch::preload_test
