// report/analysis/gates.cc: see gates.h.
#include "report/analysis/gates.h"

#include <algorithm>
#include <cmath>

#include "report/analysis/failed_call.h"
#include "report/analysis/number_format.h"

namespace allocwatch::report {
namespace {

constexpr size_t kCulprits = 3;
// A sampled figure breaks a limit only when it is over it by this many standard deviations:
// sampling noise alone fails a gate less than once in 30,000 runs.
constexpr double kGateSigmas = 4;

double GateBound(double variance) { return kGateSigmas * std::sqrt(std::max(0.0, variance)); }

std::string SiteText(const Site& s, double bytes, double bound, bool exact) {
  std::string where = s.site_frame < s.frames.size() ? DescribeFrame(s.frames[s.site_frame]) : "?";
  std::string figure;
  if (!exact) figure.push_back('~');
  figure += FormatBytes(bytes);
  if (!exact && bound > 0) figure += " ±" + FormatBytes(bound);
  return figure + " at " + where;
}

// "X (±B)" and whether the figure breaks `limit`: exact, or its lower bound in sampled mode.
bool Judge(double value, double bound, bool exact, uint64_t limit, std::string* text) {
  const double lim = static_cast<double>(limit);
  text->clear();
  if (!exact) text->push_back('~');
  *text += FormatBytes(value);
  if (exact) {
    *text += value > lim ? " > " + FormatBytes(lim) : " <= " + FormatBytes(lim);
    return value > lim;
  }
  const double low = std::max(0.0, value - bound), high = value + bound;
  *text += " (4-sigma bounds " + FormatBytes(low) + " to " + FormatBytes(high) + ")";
  if (low > lim) {
    *text += ", even the lower bound > " + FormatBytes(lim);
    return true;
  }
  if (high > lim) {
    *text += ": only the upper bound is over " + FormatBytes(lim) +
             "; passed, as sampling noise alone could put it there (--exact to be sure)";
  } else {
    *text += " <= " + FormatBytes(lim);
  }
  return false;
}

GateVerdict LeakGate(const std::vector<ProcessReport>& reports, uint64_t limit) {
  GateVerdict v;
  v.gate = "--fail-on-leak " + FormatBytes(static_cast<double>(limit));
  double live = 0, var = 0;
  bool exact = true;
  std::vector<std::pair<double, std::string>> sites;
  for (const ProcessReport& r : reports) {
    const ProcessModel& m = *r.model;
    exact = exact && m.exact;
    live += m.totals.live_bytes - r.suppressed.live_bytes;
    var += m.totals.live_bytes_var;
    for (const Leak& l : r.leaks) {
      const SiteFigures& f = l.site.figures;
      sites.emplace_back(f.live_bytes,
                         "pid " + std::to_string(m.pid) + ": " +
                             SiteText(l.site, f.live_bytes, Bound(f.live_bytes_var), m.exact));
    }
  }
  std::string text;
  v.failed = Judge(std::max(0.0, live), GateBound(var), exact, limit, &text);
  v.summary = "heap live at the end " + text;
  std::stable_sort(sites.begin(), sites.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < sites.size() && i < kCulprits; ++i) v.culprits.push_back(sites[i].second);
  return v;
}

GateVerdict PeakGate(const std::vector<ProcessReport>& reports, uint64_t limit) {
  GateVerdict v;
  v.gate = "--max-peak " + FormatBytes(static_cast<double>(limit));
  const ProcessReport* worst = nullptr;
  double worst_low = -1, worst_peak = 0, worst_bound = 0;
  for (const ProcessReport& r : reports) {
    const ProcessModel& m = *r.model;
    double var = 0;
    for (const auto& [stack, f] : m.at_peak) var += f.live_bytes_var;
    const double bound = m.exact ? 0 : GateBound(var);
    const double low = m.peak_live_bytes - bound;
    if (worst == nullptr || low > worst_low) {
      worst = &r, worst_low = low, worst_peak = m.peak_live_bytes, worst_bound = bound;
    }
  }
  if (worst == nullptr) return v;
  const ProcessModel& m = *worst->model;
  std::string text;
  v.failed = Judge(worst_peak, worst_bound, m.exact, limit, &text);
  v.summary = "peak of process " + std::to_string(m.pid) + " (heap and committed mappings) " +
              text + " at " + FormatSeconds(m.peak_time_ns);
  for (size_t i = 0; i < worst->peak.size() && i < kCulprits; ++i) {
    const SiteFigures& f = worst->peak[i].figures;
    v.culprits.push_back(SiteText(worst->peak[i], f.live_bytes + f.mapped_live_bytes,
                                  Bound(f.live_bytes_var), m.exact));
  }
  return v;
}

GateVerdict FailedAllocGate(const std::vector<ProcessReport>& reports) {
  GateVerdict v;
  v.gate = "--fail-on-failed-alloc";
  uint64_t total = 0;
  for (const ProcessReport& r : reports) {
    total += r.model->failures_total;
    for (const FailureGroup& g : r.failures) {
      if (v.culprits.size() >= kCulprits) break;
      // The first frame outside the C/C++ runtime, as a site is named.
      size_t at = 0;
      while (at + 1 < g.frames.size() && g.frames[at].runtime) ++at;
      std::string where = at < g.frames.size() ? DescribeFrame(g.frames[at]) : "?";
      v.culprits.push_back("pid " + std::to_string(r.model->pid) + ": " + CallName(g.first.call) +
                           "(" + FormatBytes(static_cast<double>(FailureSize(g.first))) + ") " +
                           ErrnoName(g.first.error) + " x" + std::to_string(g.count) + " at " +
                           where);
    }
  }
  v.failed = total > 0;
  v.summary =
      std::to_string(total) + (total == 1 ? " failed allocation call" : " failed allocation calls");
  return v;
}

}  // namespace

std::vector<GateVerdict> CheckGates(const std::vector<ProcessReport>& reports,
                                    const GateLimits& limits) {
  std::vector<GateVerdict> out;
  if (limits.leak_bytes) out.push_back(LeakGate(reports, *limits.leak_bytes));
  if (limits.peak_bytes) out.push_back(PeakGate(reports, *limits.peak_bytes));
  if (limits.failed_alloc) out.push_back(FailedAllocGate(reports));
  return out;
}

}  // namespace allocwatch::report
