// tests/unit/sampler_test.cc: the byte sampler, seeded and deterministic.
//
// Statistical bounds: for N independent allocations each sampled with probability p, the
// sampled count is Binomial(N, p). The tests accept |count - Np| <= 5.5 sigma, whose two-sided
// false-failure rate is about 4e-8 (below 1 in a million) for an arbitrary seed; the seeds here
// are fixed, so each run gives the same answer.
#include "preload/hooks/sampler.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "report/replay/model.h"

using allocwatch::preload::Sampler;
using allocwatch::preload::ThreadState;

namespace {

bool Sample(ThreadState& t, uint64_t size, uint64_t period, uint64_t seed) {
  uint64_t sampled_with = 0;
  bool sampled = Sampler::ShouldSample(t, size, period, seed, /*fast=*/true, &sampled_with);
  if (sampled) REQUIRE(sampled_with == period);
  return sampled;
}

double SampledFraction(uint64_t size, uint64_t period, int n, uint64_t seed, double* weight_sum) {
  ThreadState t{};
  int sampled = 0;
  *weight_sum = 0;
  for (int i = 0; i < n; ++i) {
    if (Sample(t, size, period, seed)) {
      ++sampled;
      *weight_sum += allocwatch::report::SampleWeight(size, period);
    }
  }
  return static_cast<double>(sampled);
}

}  // namespace

TEST_CASE("exact mode and large allocations are always sampled", "[sampler]") {
  ThreadState t{};
  for (int i = 0; i < 1000; ++i) REQUIRE(Sample(t, 1 + i % 7, 1, 99));
  ThreadState u{};
  for (int i = 0; i < 1000; ++i) REQUIRE(Sample(u, 4096, 4096, 99));
  CHECK(allocwatch::report::SampleWeight(4096, 4096) == 1.0);
  CHECK(allocwatch::report::SampleWeight(10, 1) == 1.0);
}

TEST_CASE("allocations are sampled with probability 1-exp(-s/T)", "[sampler]") {
  const uint64_t period = 512 * 1024;
  const int n = 200000;
  for (uint64_t size : {uint64_t{64}, uint64_t{4096}, period / 4, period / 2}) {
    for (uint64_t seed : {uint64_t{1}, uint64_t{12345}, uint64_t{987654321}}) {
      double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(period));
      double weight_sum = 0;
      double sampled = SampledFraction(size, period, n, seed, &weight_sum);
      double mean = n * p;
      double sigma = std::sqrt(n * p * (1 - p));
      INFO("size " << size << " seed " << seed << " sampled " << sampled << " expected " << mean);
      CHECK(std::fabs(sampled - mean) <= 5.5 * sigma + 1);
      // The weighted count estimates n without bias; its error is sigma / p.
      CHECK(std::fabs(weight_sum - n) <= (5.5 * sigma + 1) / p);
    }
  }
}

TEST_CASE("threads start from a random countdown, not from zero", "[sampler]") {
  // With a fresh countdown drawn from Exp(T), the first 1-byte allocation is sampled with
  // probability about 1/T, so a fresh state must almost never sample it.
  int sampled_first = 0;
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    ThreadState t{};
    sampled_first += Sample(t, 1, 1 << 20, seed) ? 1 : 0;
  }
  CHECK(sampled_first <= 1);
}
