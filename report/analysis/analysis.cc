// report/analysis/analysis.cc: see analysis.h.
#include "report/analysis/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "report/analysis/failed_call.h"

namespace allocwatch::report {
namespace {

// How far the kernel's high-water mark must exceed the highest RSS measured at a snapshot or
// brink to be reported as the peak (at least a tenth more, too).
constexpr uint64_t kHwmMargin = 1 << 20;

template <typename Key>
std::vector<Site> TopBy(std::vector<Site> sites, Key key, size_t top, size_t* total) {
  sites.erase(
      std::remove_if(sites.begin(), sites.end(), [&](const Site& s) { return key(s) <= 0.5; }),
      sites.end());
  std::stable_sort(sites.begin(), sites.end(),
                   [&](const Site& a, const Site& b) { return key(a) > key(b); });
  if (total != nullptr) *total = sites.size();
  if (top > 0 && sites.size() > top) sites.resize(top);
  return sites;
}

std::vector<FailureGroup> GroupFailures(const ProcessModel& model, StackSymbolizer& symbols) {
  std::map<std::tuple<uint16_t, uint32_t, int, int>, FailureGroup> groups;
  for (const Failure& f : model.failures) {
    Diagnosis d = Diagnose(f, model.page_size);
    FailureGroup& g = groups[{static_cast<uint16_t>(f.call), f.stack.value, f.error,
                              static_cast<int>(d.primary.cause)}];
    if (g.count == 0) {
      g.first = f;
      g.diagnosis = std::move(d);
    }
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

double Bound(double variance) { return kBoundZ * std::sqrt(std::max(0.0, variance)); }

const char* LeakKindName(LeakKind kind) {
  switch (kind) {
    case LeakKind::kGrowing:
      return "growing";
    case LeakKind::kSinceStart:
      return "since_start";
    case LeakKind::kOther:
      break;
  }
  return "other";
}

uint64_t EarlyWindowNs(const ProcessModel& model) {
  uint64_t since = std::min(model.options.since_ns, model.duration_ns);
  uint64_t span = model.duration_ns - since;
  return std::min<uint64_t>(5'000'000'000, span / 10);
}

namespace {

using StackFigures = absl::flat_hash_map<StackId, SiteFigures>;

// Per-stack figures without the suppressed stacks (what they held goes to `summary`).
struct KeptStacks {
  StackFigures per_stack;
  StackFigures at_peak;
};

KeptStacks Suppress(const ProcessModel& model, StackSymbolizer& symbols,
                    const Suppressions& suppressions, SuppressedSummary& summary) {
  KeptStacks kept;
  std::map<std::string, size_t> matched;
  for (const auto& [id, fig] : model.per_stack) {
    if (const std::string* p = suppressions.Match(symbols.Frames(model, id))) {
      summary.stacks += 1;
      summary.live_bytes += fig.live_bytes + fig.mapped_live_bytes;
      summary.alloc_bytes += fig.alloc_bytes + fig.mapped_bytes;
      matched[*p] += 1;
      continue;
    }
    kept.per_stack.emplace(id, fig);
  }
  for (const auto& [id, fig] : model.at_peak) {
    if (kept.per_stack.contains(id)) kept.at_peak.emplace(id, fig);
  }
  summary.patterns.assign(matched.begin(), matched.end());
  return kept;
}

// The fit of every site's live bytes over the series samples, and whether it is sustained.
struct SiteFits {
  std::vector<LinearFit> fits;
  std::vector<char> sustained;  // or grew and was released (FindReleasedGrowth)
};

std::vector<double> SiteSeries(const ProcessModel& model, const Site& site, size_t samples) {
  std::vector<double> y(samples, 0.0);
  for (StackId id : site.stacks) {
    auto it = model.live_series.find(id);
    if (it != model.live_series.end()) AddSeries(it->second, y);
  }
  return y;
}

// How many times the series rises from one sample to the next, from sample `from` on.
size_t RisingSteps(const std::vector<double>& y, size_t from) {
  size_t steps = 0;
  for (size_t i = from + 1; i < y.size(); ++i) steps += y[i] > y[i - 1] ? 1 : 0;
  return steps;
}

// Fits every site; fills report.growth with the rising ones (sustained first, then by slope).
SiteFits Growth(const ProcessModel& model, const std::vector<Site>& sites, size_t top,
                ProcessReport& report) {
  std::vector<double> x = SeriesSeconds(model);
  double min_rise = MinimumRise(model);
  SiteFits f{std::vector<LinearFit>(sites.size()), std::vector<char>(sites.size(), 0)};
  std::vector<size_t> rising;
  absl::flat_hash_map<size_t, ReleasedGrowth> released;
  std::vector<size_t> from(sites.size(), 0);
  for (size_t i = 0; i < sites.size(); ++i) {
    std::vector<double> y = SiteSeries(model, sites[i], x.size());
    // Fitted from the sample before the site's live bytes first changed: a site that began to
    // grow late in the run (after start-up, say) is judged on its own time.
    // The fit of the whole run is kept when it is the better one (sustained, or a higher R²).
    size_t start = RiseStart(y);
    std::vector<double> wx(x.begin() + static_cast<ptrdiff_t>(start), x.end());
    std::vector<double> wy(y.begin() + static_cast<ptrdiff_t>(start), y.end());
    LinearFit whole = FitLine(x, y), window = FitLine(wx, wy);
    bool whole_sustained = IsSustainedGrowth(whole, x, y, min_rise);
    bool window_sustained =
        start > 0 && !wx.empty() &&
        wx.back() - wx.front() >= kMinGrowthShareOfRun * (x.back() - x.front()) &&
        IsSustainedGrowth(window, wx, wy, min_rise);
    bool use_window = start > 0 && !whole_sustained && (window_sustained || window.r2 > whole.r2);
    from[i] = use_window ? start : 0;
    f.fits[i] = use_window ? window : whole;
    f.sustained[i] = whole_sustained || window_sustained ? 1 : 0;
    if (!f.sustained[i]) {
      if (std::optional<ReleasedGrowth> g = FindReleasedGrowth(x, y, min_rise)) {
        f.fits[i] = g->fit;
        f.sustained[i] = 1;
        from[i] = 0;
        released.emplace(i, *g);
        rising.push_back(i);
        continue;
      }
    }
    // Listed when the fit rises, at least roughly like a line, over kMinGrowthPoints samples or
    // more, in more than one step (one step, at start-up or at the end, such as stdout's buffer
    // taken by the last printf, is not growth), and the site holds more at the end than at the
    // start.
    if (f.fits[i].slope > 0 && f.fits[i].r2 >= kMinListedR2 &&
        f.fits[i].points >= kMinGrowthPoints && RisingSteps(y, from[i]) >= 2 &&
        y.back() > y.front()) {
      rising.push_back(i);
    }
  }
  std::stable_sort(rising.begin(), rising.end(), [&](size_t a, size_t b) {
    if (f.sustained[a] != f.sustained[b]) return f.sustained[a] > f.sustained[b];
    return f.fits[a].slope > f.fits[b].slope;
  });
  report.growth_sites_total = rising.size();
  if (top > 0 && rising.size() > top) rising.resize(top);
  for (size_t i : rising) {
    SiteGrowth g{sites[i], f.fits[i], false, SiteSeries(model, sites[i], x.size()), {}};
    g.fit_from = from[i];
    auto r = released.find(i);
    if (r != released.end()) {
      g.released = r->second;
    } else {
      g.sustained = f.sustained[i] != 0;
    }
    report.growth.push_back(std::move(g));
  }
  return f;
}

// Leaks by live bytes, each with its kind and (sampled mode) its bounds.
void Leaks(const ProcessModel& model, const std::vector<Site>& sites, const SiteFits& f, size_t top,
           ProcessReport& report) {
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < sites.size(); ++i) index[sites[i].key] = i;
  report.early_window_ns = EarlyWindowNs(model);
  uint64_t early_end = model.options.since_ns + report.early_window_ns;
  for (Site& s : TopBy(
           sites, [](const Site& s) { return s.figures.live_bytes; }, top,
           &report.leak_sites_total)) {
    size_t i = index.at(s.key);
    Leak leak;
    leak.fit = f.fits[i];
    if (f.sustained[i]) {
      leak.kind = LeakKind::kGrowing;
    } else if (s.figures.newest_live_ns <= early_end && !model.attached) {
      // (Attached, the recording's start is any moment of the process's life, not its start.)
      leak.kind = LeakKind::kSinceStart;
    }
    if (!model.exact) {
      leak.bytes_bound = Bound(s.figures.live_bytes_var);
      leak.count_bound = Bound(s.figures.live_count_var);
    }
    leak.site = std::move(s);
    report.leaks.push_back(std::move(leak));
  }
}

std::vector<StackEntry> Stacks(const ProcessModel& model, StackSymbolizer& symbols,
                               const StackFigures& per_stack, const StackFigures& at_peak) {
  std::vector<StackId> ids;
  for (const auto& [id, fig] : per_stack) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<StackEntry> out;
  for (StackId id : ids) {
    StackEntry e{id, symbols.Frames(model, id), per_stack.at(id), {}};
    auto p = at_peak.find(id);
    if (p != at_peak.end()) e.at_peak = p->second;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

ProcessReport BuildReport(const ProcessModel& model, StackSymbolizer& symbols,
                          const ReportOptions& options) {
  ProcessReport report;
  report.model = &model;
  // Suppressed stacks are left out of every list below (the totals keep them).
  KeptStacks kept;
  const StackFigures* per_stack = &model.per_stack;
  const StackFigures* at_peak = &model.at_peak;
  if (options.suppressions != nullptr && !options.suppressions->empty()) {
    kept = Suppress(model, symbols, *options.suppressions, report.suppressed);
    per_stack = &kept.per_stack;
    at_peak = &kept.at_peak;
  }
  SiteKeys site_keys;  // each stack's site, named once for every grouping below
  std::vector<Site> sites = GroupSites(model, *per_stack, symbols, options.grouping, &site_keys);
  SiteFits fits = Growth(model, sites, options.top, report);
  report.total_fit = FitLine(SeriesSeconds(model), model.series_total_live);
  report.recent_fit = FitRecent(SeriesSeconds(model), model.series_total_live);
  report.total_released =
      FindReleasedGrowth(SeriesSeconds(model), model.series_total_live, MinimumRise(model));
  report.limit = ProjectLimit(model, report.recent_fit, options.limits);
  Leaks(model, sites, fits, options.top, report);

  auto by = [&](double (*key)(const Site&), size_t* total) {
    return TopBy(sites, key, options.top, total);
  };
  report.live_sites = TopBy(
      sites, [](const Site& s) { return s.figures.live_bytes; }, 0, nullptr);
  report.mappings = by([](const Site& s) { return s.figures.mapped_live_bytes; }, nullptr);
  report.reserved = by([](const Site& s) { return s.figures.reserved_live_bytes; }, nullptr);
  report.memory = BuildMemoryReport(model, report.mappings);
  if (model.exact) {
    report.temporaries =
        by([](const Site& s) { return static_cast<double>(s.figures.temporary_count); },
           &report.temporary_sites_total);
  }
  report.allocators =
      by([](const Site& s) { return s.figures.alloc_bytes; }, &report.allocator_sites_total);
  report.peak = TopBy(
      GroupSites(model, *at_peak, symbols, options.grouping, &site_keys),
      [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; }, options.top,
      nullptr);
  report.failures = GroupFailures(model, symbols);
  if (model.ending == Ending::kCutShort && model.growth_since_ns > 0) {
    absl::flat_hash_map<StackId, SiteFigures> gained;
    for (const auto& [stack, now] : model.per_stack) {
      SiteFigures g;
      auto before = model.before_end.find(stack);
      double was = before == model.before_end.end() ? 0 : before->second.live_bytes;
      double was_mapped = before == model.before_end.end() ? 0 : before->second.mapped_live_bytes;
      g.live_bytes = now.live_bytes - was;
      g.mapped_live_bytes = now.mapped_live_bytes - was_mapped;
      g.live_count =
          now.live_count - (before == model.before_end.end() ? 0 : before->second.live_count);
      if (g.live_bytes + g.mapped_live_bytes > 0) gained[stack] = g;
    }
    report.growth_before_end = TopBy(
        GroupSites(model, gained, symbols, options.grouping, &site_keys),
        [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; },
        options.top, nullptr);
  }
  for (const Brink& b : model.brinks) {
    BrinkReport br;
    br.brink = &b;
    const StackFigures* live = &b.live;
    StackFigures kept_live;
    if (options.suppressions != nullptr && !options.suppressions->empty()) {
      for (const auto& [id, fig] : b.live) {
        if (per_stack->contains(id)) kept_live.emplace(id, fig);
      }
      live = &kept_live;
    }
    br.sites = TopBy(
        GroupSites(model, *live, symbols, options.grouping, &site_keys),
        [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; },
        options.top, &br.sites_total);
    report.brinks.push_back(std::move(br));
  }
  if (model.brinks_total > model.brinks.size()) {
    report.warnings.push_back("only the first " + std::to_string(model.brinks.size()) + " of " +
                              std::to_string(model.brinks_total) +
                              " brink records are shown (a limit came close again and again)");
  }
  for (const Snapshot& s : model.snapshots) {
    if (s.rss_bytes > report.peak_rss_bytes) {
      report.peak_rss_bytes = s.rss_bytes;
      report.peak_rss_time_ns = s.time_ns;
    }
  }
  for (const Brink& b : model.brinks) {  // measured too, often closer to the end
    if (b.record.rss_bytes > report.peak_rss_bytes) {
      report.peak_rss_bytes = b.record.rss_bytes;
      report.peak_rss_time_ns = b.record.time_ns;
    }
  }
  // The kernel's high-water mark, read with each snapshot's memory figures, catches a peak that
  // fell between two snapshots; it is taken when it is well above what they measured (the
  // measured peak has its instant). (Attached to a running process, it may predate the
  // recording.)
  for (const MemorySnapshot& m : model.memory) {
    const uint64_t hwm = uint64_t{m.record.rss_peak_kib} * 1024;
    if (hwm > report.peak_rss_bytes + std::max<uint64_t>(kHwmMargin, report.peak_rss_bytes / 10)) {
      report.peak_rss_bytes = hwm;
      report.peak_rss_time_ns = m.record.time_ns;
      report.peak_rss_from_hwm = true;
    }
  }
  if (options.stacks) report.stacks = Stacks(model, symbols, *per_stack, *at_peak);
  report.warnings = model.warnings;
  for (const ProcessModel::PeriodChange& c : model.period_changes) {
    char note[256];
    std::snprintf(
        note, sizeof(note),
        "at %.1f s the sampling period doubled from %llu to %llu bytes: writing the "
        "recording took %.1f%% of the last interval (estimates stay unbiased; their "
        "error grows)",
        static_cast<double>(c.time_ns) / 1e9, static_cast<unsigned long long>(c.old_sample_bytes),
        static_cast<unsigned long long>(c.new_sample_bytes),
        c.interval_ns == 0
            ? 0.0
            : 100.0 * static_cast<double>(c.write_ns) / static_cast<double>(c.interval_ns));
    report.warnings.push_back(note);
  }
  for (const std::string& w : symbols.Warnings()) report.warnings.push_back(w);
  if (model.options.tid && model.totals.samples == 0 && model.totals.mmap_calls == 0) {
    report.warnings.push_back("thread " + std::to_string(*model.options.tid) +
                              " made no recorded allocation in this process");
  }
  if (model.failures_total > model.failures.size()) {
    report.warnings.push_back("only the first " + std::to_string(model.failures.size()) + " of " +
                              std::to_string(model.failures_total) +
                              " failed calls are grouped under Failed allocations");
  }
  if (model.lost_events > 0) {
    report.warnings.push_back(std::to_string(model.lost_events) +
                              " events could not be written to the recording; figures are low");
  }
  return report;
}

const char* BrinkLimitName(uint32_t kind) {
  switch (kind) {
    case format::kBrinkCgroup:
      return "the memory cgroup";
    case format::kBrinkCommit:
      return "the commit limit";
    case format::kBrinkAddressSpace:
      return "RLIMIT_AS";
  }
  return "an unknown limit";
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
    c.failures += m.failures_total;
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
  c.leaks = TopBy(
      std::move(merged), [](const Site& s) { return s.figures.live_bytes; }, top,
      &c.leak_sites_total);
  return c;
}

}  // namespace allocwatch::report
