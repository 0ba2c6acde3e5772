// report/analysis/growth.cc: see growth.h.
#include "report/analysis/growth.h"

#include <algorithm>
#include <cmath>

namespace allocwatch::report {

LinearFit FitLine(const std::vector<double>& x, const std::vector<double>& y) {
  LinearFit fit;
  size_t n = std::min(x.size(), y.size());
  fit.points = n;
  if (n == 0) return fit;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(n), my /= static_cast<double>(n);
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    double dx = x[i] - mx, dy = y[i] - my;
    sxx += dx * dx, sxy += dx * dy, syy += dy * dy;
  }
  fit.intercept = my;
  if (sxx <= 0) return fit;
  fit.slope = sxy / sxx;
  fit.intercept = my - fit.slope * mx;
  fit.r2 = syy > 0 ? std::clamp(sxy * sxy / (sxx * syy), 0.0, 1.0) : 0.0;
  return fit;
}

LinearFit FitRecent(const std::vector<double>& x, const std::vector<double>& y) {
  size_t n = std::min(x.size(), y.size());
  size_t keep = std::min(n, std::max(kMinGrowthPoints, n / 4));
  std::vector<double> rx(x.begin() + static_cast<ptrdiff_t>(n - keep),
                         x.begin() + static_cast<ptrdiff_t>(n));
  std::vector<double> ry(y.begin() + static_cast<ptrdiff_t>(n - keep),
                         y.begin() + static_cast<ptrdiff_t>(n));
  return FitLine(rx, ry);
}

bool IsSustainedGrowth(const LinearFit& fit, const std::vector<double>& x,
                       const std::vector<double>& y, double min_rise) {
  if (fit.points < kMinGrowthPoints || fit.slope <= 0 || fit.r2 < kMinGrowthR2) return false;
  double span = x.back() - x.front();
  if (fit.slope * span < min_rise) return false;
  double max = *std::max_element(y.begin(), y.end());
  return y.back() >= 0.9 * max;
}

size_t RiseStart(const std::vector<double>& y) {
  for (size_t i = 1; i < y.size(); ++i) {
    if (y[i] != y[0]) return i - 1;
  }
  return 0;
}

std::optional<ReleasedGrowth> FindReleasedGrowth(const std::vector<double>& x,
                                                 const std::vector<double>& y, double min_rise) {
  size_t n = std::min(x.size(), y.size());
  if (n < kMinGrowthPoints) return std::nullopt;
  auto peak = std::max_element(y.begin(), y.begin() + static_cast<ptrdiff_t>(n));
  double max = *peak;
  if (max <= 0 || y[n - 1] >= 0.9 * max) return std::nullopt;  // still high: not released
  size_t p = static_cast<size_t>(peak - y.begin());
  size_t last_high = n - 1;
  while (y[last_high] < 0.9 * max) --last_high;
  double span = x[n - 1] - x[0];
  if (span <= 0 || x[p] - x[0] < kReleasedMinRiseShare * span ||
      x[last_high] - x[0] < kReleasedHighUntilShare * span) {
    return std::nullopt;
  }
  std::vector<double> rx(x.begin(), x.begin() + static_cast<ptrdiff_t>(p + 1));
  std::vector<double> ry(y.begin(), y.begin() + static_cast<ptrdiff_t>(p + 1));
  ReleasedGrowth g;
  g.fit = FitLine(rx, ry);
  if (!IsSustainedGrowth(g.fit, rx, ry, min_rise)) return std::nullopt;
  g.peak_index = p;
  g.peak_bytes = max;
  g.end_bytes = y[n - 1];
  return g;
}

double MinimumRise(const ProcessModel& model) {
  return model.exact ? 4096.0 : 10.0 * static_cast<double>(model.sample_bytes);
}

LimitSource FixedLimit(uint64_t limit_bytes) {
  return [limit_bytes](const ProcessModel& model) -> std::optional<MemoryLimit> {
    MemoryLimit limit{"--limit", "RSS", limit_bytes, 0, 0};
    for (const Snapshot& s : model.snapshots) {
      limit.used_bytes = s.rss_bytes;
      limit.used_time_ns = s.time_ns;
    }
    if (limit.used_time_ns == 0 && model.snapshots.empty()) {
      // No snapshot: the recorded live total is the best figure there is.
      limit.measure = "recorded live bytes";
      limit.used_bytes = static_cast<uint64_t>(
          std::max(0.0, model.totals.live_bytes + model.totals.mapped_live_bytes));
      limit.used_time_ns = model.duration_ns;
    }
    return limit;
  };
}

std::optional<LimitProjection> ProjectLimit(const ProcessModel& model, const LinearFit& rate,
                                            const std::vector<LimitSource>& sources) {
  for (const LimitSource& source : sources) {
    std::optional<MemoryLimit> limit = source(model);
    if (!limit) continue;
    LimitProjection p;
    p.limit = *limit;
    p.headroom_bytes =
        static_cast<double>(limit->limit_bytes) - static_cast<double>(limit->used_bytes);
    p.rate_bytes_per_s = rate.slope;
    if (rate.slope > 0 && rate.points >= 2) {
      p.seconds = std::max(0.0, p.headroom_bytes) / rate.slope;
    }
    return p;
  }
  return std::nullopt;
}

std::vector<double> SeriesSeconds(const ProcessModel& model) {
  std::vector<double> x;
  x.reserve(model.series_times_ns.size());
  for (uint64_t t : model.series_times_ns) x.push_back(static_cast<double>(t) / 1e9);
  return x;
}

}  // namespace allocwatch::report
