// report/analysis.cc: see analysis.h.
#include "report/analysis.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <tuple>

namespace allocwatch::report {
namespace {

template <typename Key>
std::vector<Site> TopBy(std::vector<Site> sites, Key key, size_t top, size_t* total) {
  sites.erase(std::remove_if(sites.begin(), sites.end(),
                             [&](const Site& s) { return key(s) <= 0.5; }),
              sites.end());
  std::stable_sort(sites.begin(), sites.end(),
                   [&](const Site& a, const Site& b) { return key(a) > key(b); });
  if (total != nullptr) *total = sites.size();
  if (top > 0 && sites.size() > top) sites.resize(top);
  return sites;
}

std::vector<FailureGroup> GroupFailures(const ProcessModel& model, StackSymbolizer& symbols) {
  std::map<std::tuple<uint16_t, uint32_t, int>, FailureGroup> groups;
  for (const Failure& f : model.failures) {
    FailureGroup& g = groups[{static_cast<uint16_t>(f.call), f.stack.value, f.error}];
    if (g.count == 0) g.first = f;
    g.count += 1;
    g.last_time_ns = f.time_ns;
    uint64_t size = FailureSize(f);
    g.min_size = std::min(g.min_size, size);
    g.max_size = std::max(g.max_size, size);
  }
  std::vector<FailureGroup> out;
  for (auto& [key, g] : groups) {
    g.frames = symbols.Frames(model, g.first.stack);
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const FailureGroup& a, const FailureGroup& b) {
    return a.first.time_ns < b.first.time_ns;
  });
  return out;
}

}  // namespace

uint64_t FailureSize(const Failure& f) {
  using format::Call;
  switch (f.call) {
    case Call::kMalloc:
    case Call::kValloc:
    case Call::kPvalloc: return f.args[0];
    case Call::kCalloc:
    case Call::kReallocArray: {
      uint64_t a = f.call == Call::kCalloc ? f.args[0] : f.args[1];
      uint64_t b = f.call == Call::kCalloc ? f.args[1] : f.args[2];
      uint64_t total;
      return __builtin_mul_overflow(a, b, &total) ? UINT64_MAX : total;
    }
    case Call::kRealloc:
    case Call::kAlignedAlloc:
    case Call::kMemalign:
    case Call::kMmap:
    case Call::kMmap64:
    case Call::kMunmap: return f.args[1];
    case Call::kPosixMemalign:
    case Call::kMremap: return f.args[2];
    case Call::kFree: return 0;
  }
  return 0;
}

std::string ErrnoName(int error) {
  switch (error) {
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EFAULT: return "EFAULT";
    case EBADF: return "EBADF";
    case ENODEV: return "ENODEV";
    case EOVERFLOW: return "EOVERFLOW";
    case ETXTBSY: return "ETXTBSY";
    case EEXIST: return "EEXIST";
    case 0: return "no errno";
  }
  return "errno " + std::to_string(error);
}

double Bound(double variance) { return kBoundZ * std::sqrt(std::max(0.0, variance)); }

const char* LeakKindName(LeakKind kind) {
  switch (kind) {
    case LeakKind::kGrowing: return "growing";
    case LeakKind::kSinceStart: return "since_start";
    case LeakKind::kOther: break;
  }
  return "other";
}

uint64_t EarlyWindowNs(const ProcessModel& model) {
  uint64_t since = std::min(model.options.since_ns, model.duration_ns);
  uint64_t span = model.duration_ns - since;
  return std::min<uint64_t>(5'000'000'000, span / 10);
}

ProcessReport BuildReport(const ProcessModel& model, StackSymbolizer& symbols,
                          const ReportOptions& options) {
  ProcessReport report;
  report.model = &model;

  // Suppressed stacks are left out of every list below (the totals keep them).
  const absl::flat_hash_map<StackId, SiteFigures>* per_stack = &model.per_stack;
  const absl::flat_hash_map<StackId, SiteFigures>* at_peak = &model.at_peak;
  absl::flat_hash_map<StackId, SiteFigures> kept, kept_at_peak;
  if (options.suppressions != nullptr && !options.suppressions->empty()) {
    std::map<std::string, size_t> matched;
    for (const auto& [id, fig] : model.per_stack) {
      if (const std::string* p = options.suppressions->Match(symbols.Frames(model, id))) {
        report.suppressed.stacks += 1;
        report.suppressed.live_bytes += fig.live_bytes + fig.mapped_live_bytes;
        report.suppressed.alloc_bytes += fig.alloc_bytes + fig.mapped_bytes;
        matched[*p] += 1;
        continue;
      }
      kept.emplace(id, fig);
    }
    for (const auto& [id, fig] : model.at_peak) {
      if (kept.contains(id)) kept_at_peak.emplace(id, fig);
    }
    report.suppressed.patterns.assign(matched.begin(), matched.end());
    per_stack = &kept;
    at_peak = &kept_at_peak;
  }

  std::vector<Site> sites = GroupSites(model, *per_stack, symbols, options.grouping);

  // Growth of every site over the series samples.
  std::vector<double> x = SeriesSeconds(model);
  double min_rise = MinimumRise(model);
  std::vector<LinearFit> fits(sites.size());
  std::vector<char> sustained(sites.size(), 0);
  absl::flat_hash_map<std::string, size_t> index;
  auto series_of = [&](const Site& site) {
    std::vector<double> y(x.size(), 0.0);
    for (StackId id : site.stacks) {
      auto it = model.live_series.find(id);
      if (it != model.live_series.end()) AddSeries(it->second, y);
    }
    return y;
  };
  std::vector<size_t> rising;
  for (size_t i = 0; i < sites.size(); ++i) {
    index[sites[i].key] = i;
    std::vector<double> y = series_of(sites[i]);
    fits[i] = FitLine(x, y);
    sustained[i] = IsSustainedGrowth(fits[i], x, y, min_rise) ? 1 : 0;
    // Listed when the fit rises and the site holds more at the end than at the start.
    if (fits[i].slope > 0 && fits[i].points >= 2 && y.back() > y.front()) rising.push_back(i);
  }
  std::stable_sort(rising.begin(), rising.end(), [&](size_t a, size_t b) {
    if (sustained[a] != sustained[b]) return sustained[a] > sustained[b];
    return fits[a].slope > fits[b].slope;
  });
  report.growth_sites_total = rising.size();
  if (options.top > 0 && rising.size() > options.top) rising.resize(options.top);
  for (size_t i : rising) {
    report.growth.push_back(SiteGrowth{sites[i], fits[i], sustained[i] != 0, series_of(sites[i])});
  }
  report.total_fit = FitLine(x, model.series_total_live);
  report.limit = ProjectLimit(model, report.total_fit, options.limits);

  // Leaks, each with its kind and, in sampled mode, its bounds.
  report.early_window_ns = EarlyWindowNs(model);
  uint64_t early_end = model.options.since_ns + report.early_window_ns;
  for (Site& s : TopBy(sites, [](const Site& s) { return s.figures.live_bytes; }, options.top,
                       &report.leak_sites_total)) {
    size_t i = index.at(s.key);
    Leak leak;
    leak.fit = fits[i];
    if (sustained[i]) {
      leak.kind = LeakKind::kGrowing;
    } else if (s.figures.newest_live_ns <= early_end) {
      leak.kind = LeakKind::kSinceStart;
    }
    if (!model.exact) {
      leak.bytes_bound = Bound(s.figures.live_bytes_var);
      leak.count_bound = Bound(s.figures.live_count_var);
    }
    leak.site = std::move(s);
    report.leaks.push_back(std::move(leak));
  }
  report.live_sites = TopBy(sites, [](const Site& s) { return s.figures.live_bytes; }, 0, nullptr);
  report.mappings = TopBy(sites, [](const Site& s) { return s.figures.mapped_live_bytes; },
                          options.top, nullptr);
  if (model.exact) {
    report.temporaries =
        TopBy(sites, [](const Site& s) { return static_cast<double>(s.figures.temporary_count); },
              options.top, &report.temporary_sites_total);
  }
  report.allocators = TopBy(std::move(sites), [](const Site& s) { return s.figures.alloc_bytes; },
                            options.top, &report.allocator_sites_total);
  report.peak = TopBy(GroupSites(model, *at_peak, symbols, options.grouping),
                      [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; },
                      options.top, nullptr);
  report.failures = GroupFailures(model, symbols);
  for (const Snapshot& s : model.snapshots) {
    if (s.rss_bytes > report.peak_rss_bytes) {
      report.peak_rss_bytes = s.rss_bytes;
      report.peak_rss_time_ns = s.time_ns;
    }
  }
  if (options.stacks) {
    std::vector<StackId> ids;
    for (const auto& [id, fig] : *per_stack) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    for (StackId id : ids) {
      StackEntry e{id, symbols.Frames(model, id), per_stack->at(id), {}};
      auto p = at_peak->find(id);
      if (p != at_peak->end()) e.at_peak = p->second;
      report.stacks.push_back(std::move(e));
    }
  }
  report.warnings = model.warnings;
  for (const std::string& w : symbols.Warnings()) report.warnings.push_back(w);
  if (model.lost_events > 0) {
    report.warnings.push_back(std::to_string(model.lost_events) +
                              " events could not be written to the recording; figures are low");
  }
  return report;
}

CombinedReport BuildCombined(const std::vector<ProcessReport>& reports, size_t top) {
  CombinedReport c;
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<Site> merged;
  for (const ProcessReport& r : reports) {
    const ProcessModel& m = *r.model;
    c.processes += 1;
    c.totals.Add(m.totals);
    c.peak_sum += m.peak_live_bytes;
    c.peak_rss_sum += r.peak_rss_bytes;
    c.failures += m.failures.size();
    c.exact = c.exact && m.exact;
    for (const Site& s : r.live_sites) {
      auto [it, inserted] = index.try_emplace(s.key, merged.size());
      if (inserted) {
        merged.push_back(s);
      } else {
        merged[it->second].figures.Add(s.figures);
        merged[it->second].stack_count += s.stack_count;
      }
    }
  }
  c.leaks = TopBy(std::move(merged), [](const Site& s) { return s.figures.live_bytes; }, top,
                  &c.leak_sites_total);
  return c;
}

}  // namespace allocwatch::report
