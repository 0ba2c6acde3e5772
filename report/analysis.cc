// report/analysis.cc: see analysis.h.
#include "report/analysis.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

ProcessReport BuildReport(const ProcessModel& model, StackSymbolizer& symbols,
                          const ReportOptions& options) {
  ProcessReport report;
  report.model = &model;
  std::vector<Site> sites = GroupSites(model, model.per_stack, symbols, options.grouping);
  report.leaks = TopBy(sites, [](const Site& s) { return s.figures.live_bytes; }, options.top,
                       &report.leak_sites_total);
  report.mappings = TopBy(sites, [](const Site& s) { return s.figures.mapped_live_bytes; },
                          options.top, nullptr);
  report.allocators = TopBy(std::move(sites), [](const Site& s) { return s.figures.alloc_bytes; },
                            options.top, &report.allocator_sites_total);
  report.peak = TopBy(GroupSites(model, model.at_peak, symbols, options.grouping),
                      [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; },
                      options.top, nullptr);
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
      g.live_count = now.live_count - (before == model.before_end.end() ? 0 : before->second.live_count);
      if (g.live_bytes + g.mapped_live_bytes > 0) gained[stack] = g;
    }
    report.growth = TopBy(GroupSites(model, gained, symbols, options.grouping),
                          [](const Site& s) { return s.figures.live_bytes + s.figures.mapped_live_bytes; },
                          options.top, nullptr);
  }
  for (const Snapshot& s : model.snapshots) {
    if (s.rss_bytes > report.peak_rss_bytes) {
      report.peak_rss_bytes = s.rss_bytes;
      report.peak_rss_time_ns = s.time_ns;
    }
  }
  report.warnings = model.warnings;
  for (const ProcessModel::PeriodChange& c : model.period_changes) {
    char note[256];
    std::snprintf(note, sizeof(note),
                  "at %.1f s the sampling period doubled from %llu to %llu bytes: writing the "
                  "recording took %.1f%% of the last interval (estimates stay unbiased; their "
                  "error grows)",
                  static_cast<double>(c.time_ns) / 1e9,
                  static_cast<unsigned long long>(c.old_sample_bytes),
                  static_cast<unsigned long long>(c.new_sample_bytes),
                  c.interval_ns == 0 ? 0.0
                                     : 100.0 * static_cast<double>(c.write_ns) /
                                           static_cast<double>(c.interval_ns));
    report.warnings.push_back(note);
  }
  for (const std::string& w : symbols.Warnings()) report.warnings.push_back(w);
  if (model.lost_events > 0) {
    report.warnings.push_back(std::to_string(model.lost_events) +
                              " events could not be written to the recording; figures are low");
  }
  return report;
}

}  // namespace allocwatch::report
