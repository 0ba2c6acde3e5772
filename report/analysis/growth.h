// report/analysis/growth.h: growth of live memory over time, per call site and in total, and the
// projection of when a memory limit would be reached.
//
// Offline. Pure functions, but for ProjectLimit, which calls the LimitSources it is given (the
// one of cgroup_limit.h reads /proc and cgroupfs). A series is the live bytes at every sample of
// the recording's series grid (evenly spaced in time, and the end of the data); the fit is an
// ordinary least-squares line through (seconds, bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "report/replay/model.h"

namespace allocwatch::report {

struct LinearFit {
  double slope = 0;      // bytes per second
  double intercept = 0;  // bytes at t = 0
  double r2 = 0;         // coefficient of determination, 0..1 (1 for a perfect line; 0 if flat)
  size_t points = 0;
};

// Least-squares line through (x[i], y[i]). Fewer than two distinct x values give slope 0.
LinearFit FitLine(const std::vector<double>& x, const std::vector<double>& y);

// The fit over the last quarter of the samples (at least kMinGrowthPoints of them, or all when
// there are fewer): the current rate, as opposed to the run's average.
LinearFit FitRecent(const std::vector<double>& x, const std::vector<double>& y);

// Whether a site's series is growth that lasted: at least kMinGrowthPoints samples, a positive
// slope with r2 >= kMinGrowthR2, a fitted rise over the window of at least `min_rise` bytes, and
// the last value within 10% of the series' maximum (still high at the end).
inline constexpr size_t kMinGrowthPoints = 4;
inline constexpr double kMinGrowthR2 = 0.8;
// Sites are listed under growth from this fit quality on (sustained or not).
inline constexpr double kMinListedR2 = 0.5;
bool IsSustainedGrowth(const LinearFit& fit, const std::vector<double>& x,
                       const std::vector<double>& y, double min_rise);

// A site's fit starts at the sample before its series first changes (RiseStart): growth that
// began late in the run is judged over its own time, when that is at least this share of the
// run.
inline constexpr double kMinGrowthShareOfRun = 0.1;
size_t RiseStart(const std::vector<double>& y);

// Growth that the end undid: the series rose steadily to its maximum, over at least
// kReleasedMinRiseShare of the run (IsSustainedGrowth of the samples up to the maximum, with
// the fit of those samples), stayed within 10% of it until at least kReleasedHighUntilShare
// of the run, and then fell below (a program that frees what it built up during its
// shutdown). A rise that fell back earlier in the run is not this.
inline constexpr double kReleasedMinRiseShare = 0.5;
inline constexpr double kReleasedHighUntilShare = 0.9;
struct ReleasedGrowth {
  LinearFit fit;          // of the samples up to the maximum
  size_t peak_index = 0;  // the first sample at the maximum
  double peak_bytes = 0;
  double end_bytes = 0;  // the last sample
};
std::optional<ReleasedGrowth> FindReleasedGrowth(const std::vector<double>& x,
                                                 const std::vector<double>& y, double min_rise);

// The smallest rise counted as growth: 4 KiB in exact mode; in sampled mode 10 sampling
// periods (below that a rise is within the sampling noise, reference: about sqrt(T/B)).
double MinimumRise(const ProcessModel& model);

// A memory limit and how much of it was in use at the end of the data.
struct MemoryLimit {
  std::string source;   // where the figure comes from, e.g. "--limit" or "cgroup memory.max"
  std::string measure;  // what is compared with it, e.g. "RSS"
  uint64_t limit_bytes = 0;
  uint64_t used_bytes = 0;  // at used_time_ns
  uint64_t used_time_ns = 0;
};

// Finds the limit in force for a process (nullopt when the source has none). Sources are tried
// in order; the first answer wins. New sources (headroom recorded by the preload, say) plug in
// here without changing the analysis.
using LimitSource = std::function<std::optional<MemoryLimit>(const ProcessModel&)>;

// A limit given on the command line, compared with the last RSS snapshot.
// (cgroup_limit.h reads the cgroup of a process still running; a limit recorded in the file
// would be one more LimitSource.)
LimitSource FixedLimit(uint64_t limit_bytes);

struct LimitProjection {
  MemoryLimit limit;
  double headroom_bytes = 0;      // limit - used (negative when over)
  double rate_bytes_per_s = 0;    // current growth rate of the live total (FitRecent)
  std::optional<double> seconds;  // until the headroom is used up; none when not growing
};

// `rate` is the fit of the live total whose slope is projected (FitRecent of the total).
std::optional<LimitProjection> ProjectLimit(const ProcessModel& model, const LinearFit& rate,
                                            const std::vector<LimitSource>& sources);

// Seconds since the start of the process of every series sample.
std::vector<double> SeriesSeconds(const ProcessModel& model);

}  // namespace allocwatch::report
