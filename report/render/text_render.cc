// report/render/text_render.cc: the terminal report (fits 100 columns; colour is optional).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "report/analysis/failed_call.h"
#include "report/analysis/number_format.h"
#include "report/render/memory_text.h"
#include "report/render/render.h"
#include "report/render/text_format.h"

namespace allocwatch::report {
namespace {

// "grew to 95.3 MiB over 1.40 s, released at exit" (down to what the series ends at).
std::string ReleasedText(const ProcessReport& r, const ReleasedGrowth& g) {
  const ProcessModel& m = *r.model;
  uint64_t t0 = m.series_times_ns.front(), peak = m.series_times_ns[g.peak_index];
  std::string text =
      "grew to " + FormatBytes(g.peak_bytes) + " over " + FormatSeconds(peak - t0) + ", released ";
  text +=
      m.ending == Ending::kExit || m.ending == Ending::kUnderscoreExit ? "at exit" : "at the end";
  if (g.end_bytes >= 1) text += " (down to " + FormatBytes(g.end_bytes) + ")";
  return text;
}

std::string EndingText(const ProcessReport& r) {
  const ProcessModel& m = *r.model;
  switch (m.ending) {
    case Ending::kExit:
      return "exit()";
    case Ending::kUnderscoreExit:
      return "_exit(" + std::to_string(m.exit_status) + ")";
    case Ending::kExec:
      return "exec of " + Escape(m.exec_path) +
             (m.attached ? " (the new program is not recorded: the library was attached to the "
                           "old one)"
                         : " (the new program has its own recording)");
    case Ending::kDetach:
      return "allocwatch detach (the process went on)";
    case Ending::kCutShort:
      break;
  }
  return "cut short: no end record (killed by a signal, or still running); figures are as of "
         "the last record";
}

// One ranked line per site: "  1. ~1.50 MiB ±120.00 KiB  ~12 blocks  [tag]" and its stack.
struct SiteLine {
  const Site* site;
  double bytes;
  double count;
  double bytes_bound = 0;  // 95% half-width, sampled mode
  std::string tag;
};

void SiteLines(const std::vector<SiteLine>& lines, const char* unit, bool exact,
               std::ostream& out) {
  if (lines.empty()) {
    out << "  none\n";
    return;
  }
  int rank = 1;
  std::string e = Estimate(exact);
  for (const SiteLine& l : lines) {
    std::string n = FormatCount(l.count);
    std::string units = n == "1" ? std::string(unit).substr(0, std::strlen(unit) - 1) : unit;
    std::string bytes = e + FormatBytes(l.bytes);
    if (l.bytes_bound > 0) bytes.append(" ±").append(FormatBytes(l.bytes_bound));
    char line[200];
    std::snprintf(line, sizeof(line), "  %2d. %-24s %s%s %s", rank++, bytes.c_str(), e.c_str(),
                  n.c_str(), units.c_str());
    out << line;
    if (!l.tag.empty()) out << "  " << l.tag;
    out << "\n";
    StackLines(l.site->frames, l.site->site_frame, kCallerLines, out);
  }
}

void Heading(const std::string& title, size_t shown, size_t total, const Paint& paint,
             std::ostream& out) {
  out << "\n" << paint.Title(title);
  if (total > shown) out << " (top " << shown << " of " << total << " sites)";
  out << "\n";
}

// `variance` (may be null) gives the variance of the bytes figure, for the bound shown in
// sampled mode.
void SiteList(const char* title, const std::vector<Site>& sites, size_t total,
              double (*bytes)(const SiteFigures&), double (*count)(const SiteFigures&),
              double (*variance)(const SiteFigures&), const char* unit, bool exact,
              const Paint& paint, std::ostream& out) {
  Heading(title, sites.size(), total, paint, out);
  std::vector<SiteLine> lines;
  for (const Site& s : sites) {
    double bound = !exact && variance != nullptr ? Bound(variance(s.figures)) : 0;
    lines.push_back(SiteLine{&s, bytes(s.figures), count(s.figures), bound, ""});
  }
  SiteLines(lines, unit, exact, out);
}

// Live bytes over the samples as a row of ASCII levels (" .:-=+*#"), `width` wide.
std::string Sparkline(const std::vector<double>& y, size_t width) {
  static const char kLevels[] = " .:-=+*#";
  if (y.empty()) return "";
  double max = *std::max_element(y.begin(), y.end());
  std::string out;
  size_t n = std::min(width, y.size());
  for (size_t i = 0; i < n; ++i) {
    // The last sample of each bucket, so the end of the run shows as it is.
    size_t k = (i + 1) * y.size() / n - 1;
    int level = max > 0 ? static_cast<int>(std::lround(7.0 * std::max(0.0, y[k]) / max)) : 0;
    out += kLevels[std::clamp(level, 0, 7)];
  }
  return out;
}

std::string FitText(const LinearFit& fit) {
  char r2[32];
  std::snprintf(r2, sizeof(r2), "%.2f", fit.r2);
  return FormatRate(fit.slope) + ", R² " + r2;
}

void Summary(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  const ProcessModel& m = *r.model;
  const SiteFigures& t = m.totals;
  std::string e = Estimate(m.exact);
  out << "\n" << paint.Title("Summary") << "\n";
  out << "  allocated      " << e << FormatCount(t.alloc_count) << " calls, " << e
      << FormatBytes(t.alloc_bytes);
  if (!m.exact) out << " (±" << FormatBytes(Bound(t.alloc_bytes_var)) << ")";
  out << " (malloc, calloc, realloc, memalign & co.)\n";
  // Sampled mode still counts every call exactly (snapshots), for the whole run.
  bool whole_run = m.options.since_ns == 0 && m.options.until_ns == UINT64_MAX && !m.options.tid;
  if (!m.exact && whole_run && !m.snapshots.empty() && m.snapshots.back().alloc_calls > 0) {
    const Snapshot& last = m.snapshots.back();
    out << "  every call     " << FormatCount(static_cast<double>(last.alloc_calls)) << " calls, "
        << FormatBytes(static_cast<double>(last.heap_allocated_bytes))
        << " requested (counted exactly, sampled or not)\n";
    if (last.heap_live_bytes > 0) {
      out << "  heap in use    " << FormatBytes(static_cast<double>(last.heap_live_bytes))
          << " at the last snapshot (as the C library counts it)\n";
    }
  }
  if (t.mmap_calls > 0) {
    out << "  mapped         " << FormatCount(static_cast<double>(t.mmap_calls)) << " calls, "
        << FormatBytes(t.mapped_bytes) << " (mmap, mremap)\n";
  }
  out << "  peak live      " << e << FormatBytes(m.peak_live_bytes) << " at "
      << FormatSeconds(m.peak_time_ns) << " (heap blocks and mappings)\n";
  if (r.peak_rss_bytes > 0) {
    out << "  peak RSS       " << FormatBytes(static_cast<double>(r.peak_rss_bytes))
        << (r.peak_rss_from_hwm ? " by " : " at ") << FormatSeconds(r.peak_rss_time_ns)
        << (r.peak_rss_from_hwm ? " (the kernel's high-water mark, above every snapshot's)\n"
                                : " (measured at every snapshot and brink)\n");
  }
  out << "  live at end    " << e << FormatBytes(t.live_bytes) << " in " << e
      << FormatCount(t.live_count) << " blocks";
  if (!m.exact) out << " (±" << FormatBytes(Bound(t.live_bytes_var)) << ")";
  if (t.mapped_live_bytes > 0) out << ", " << FormatBytes(t.mapped_live_bytes) << " mapped";
  out << "\n";
  if (t.discarded_live_bytes >= 0.5) {
    out << "  given back     " << FormatBytes(t.discarded_live_bytes)
        << " of mappings by madvise (not resident until touched; in no figure above)\n";
  }
  if (t.reserved_live_bytes > 0) {
    out << "  reserved       " << FormatBytes(t.reserved_live_bytes)
        << " of address space (PROT_NONE: not memory, in no figure above)\n";
  }
  if (r.total_released) {
    out << "  growth         " << e << FitText(r.total_released->fit) << " (live total, "
        << ReleasedText(r, *r.total_released) << ")\n";
  } else if (r.total_fit.points >= 2) {
    out << "  growth         " << e << FitText(r.total_fit) << " (live total over "
        << r.total_fit.points << " samples); recent " << e << FormatRate(r.recent_fit.slope)
        << "\n";
  }
  if (r.limit) {
    const LimitProjection& p = *r.limit;
    out << "  limit          " << FormatBytes(static_cast<double>(p.limit.limit_bytes)) << " ("
        << Clip(p.limit.source, 60) << ")\n";
    out << "  headroom       " << FormatBytes(p.headroom_bytes) << ": " << p.limit.measure << " "
        << FormatBytes(static_cast<double>(p.limit.used_bytes)) << " at "
        << FormatSeconds(p.limit.used_time_ns) << "\n";
    out << "  time to limit  ";
    if (p.headroom_bytes <= 0) {
      out << paint.Bad("over the limit") << "\n";
    } else if (p.seconds) {
      out << paint.Bad(FormatDuration(*p.seconds)) << " at " << FormatRate(p.rate_bytes_per_s)
          << "\n";
    } else {
      out << "not reached: the live total is not growing\n";
    }
  }
  if (m.exact) {
    out << "  temporary      " << FormatCount(static_cast<double>(t.temporary_count))
        << " allocations freed at once\n";
  }
  out << "  failed calls   " << m.failures_total << "\n";
  if (r.suppressed.stacks > 0) {
    out << "  suppressed     " << r.suppressed.stacks << " stacks, " << e
        << FormatBytes(r.suppressed.live_bytes) << " live at the end\n";
  }
}

void Leaks(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  const ProcessModel& m = *r.model;
  std::vector<SiteLine> kept, since_start;
  for (const Leak& l : r.leaks) {
    SiteLine line{&l.site, l.site.figures.live_bytes, l.site.figures.live_count, l.bytes_bound, ""};
    if (l.kind == LeakKind::kGrowing) {
      line.tag = paint.Bad("growing " + FormatRate(l.fit.slope));
    } else if (l.kind == LeakKind::kSinceStart) {
      since_start.push_back(line);
      continue;
    } else if (l.site.figures.newest_live_ns > 0) {
      line.tag = paint.Dim("newest " + FormatSeconds(l.site.figures.newest_live_ns));
    }
    kept.push_back(line);
  }
  Heading("Live at exit by call site", r.leaks.size(), r.leak_sites_total, paint, out);
  if (!m.exact) out << "  (± is the 95% bound of the estimate)\n";
  SiteLines(kept, "blocks", m.exact, out);
  if (!since_start.empty()) {
    out << "\n"
        << paint.Title("Live since the start, not growing (singletons, pools)")
        << "\n  every block allocated in the first " << FormatSeconds(r.early_window_ns)
        << " and still live at the end\n";
    SiteLines(since_start, "blocks", m.exact, out);
  }
}

void Growth(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  const ProcessModel& m = *r.model;
  Heading("Growth by call site (live bytes over time, by rate)", r.growth.size(),
          r.growth_sites_total, paint, out);
  if (m.series_times_ns.size() < kMinGrowthPoints) {
    out << "  too few samples (" << m.series_times_ns.size() << "): the recording spans less than "
        << kMinGrowthPoints << " ms of recorded activity\n";
    return;
  }
  if (r.growth.empty()) {
    out << "  none: no site's live bytes rose\n";
    return;
  }
  int rank = 1;
  for (const SiteGrowth& g : r.growth) {
    char line[200];
    std::string first = FormatBytes(g.series.front()), last = FormatBytes(g.series.back());
    std::snprintf(line, sizeof(line), "  %2d. %s%-30s %s -> %s", rank++, Estimate(m.exact).c_str(),
                  FitText(g.fit).c_str(), first.c_str(), last.c_str());
    out << line;
    if (g.sustained) out << "  " << paint.Bad("sustained");
    if (g.fit_from > 0) out << " since " << FormatSeconds(m.series_times_ns[g.fit_from]);
    if (g.released) out << "  " << paint.Bad(ReleasedText(r, *g.released));
    out << "\n        [" << Sparkline(g.series, 40) << "]\n";
    StackLines(g.site.frames, g.site.site_frame, kCallerLines - 1, out);
  }
}

void Temporaries(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  Heading("Temporary allocations (freed before the thread's next allocation)", r.temporaries.size(),
          r.temporary_sites_total, paint, out);
  if (r.temporaries.empty()) {
    out << "  none\n";
    return;
  }
  int rank = 1;
  for (const Site& s : r.temporaries) {
    double share =
        s.figures.alloc_count > 0
            ? 100.0 * static_cast<double>(s.figures.temporary_count) / s.figures.alloc_count
            : 0;
    char line[160];
    std::string calls = FormatCount(s.figures.alloc_count);
    std::snprintf(line, sizeof(line), "  %2d. %s temporary of %s %s (%.0f%%)\n", rank++,
                  FormatCount(static_cast<double>(s.figures.temporary_count)).c_str(),
                  calls.c_str(), calls == "1" ? "call" : "calls", share);
    out << line;
    StackLines(s.frames, s.site_frame, kCallerLines, out);
  }
}

void Failures(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  out << "\n" << paint.Title("Failed allocations");
  if (r.failures.empty()) {
    out << "\n  none\n";
    return;
  }
  uint64_t n = r.model->failures_total;
  out << " (" << n << (n == 1 ? " call" : " calls") << ")\n";
  int rank = 1;
  for (const FailureGroup& g : r.failures) {
    const Failure& f = g.first;
    std::string size = g.min_size == UINT64_MAX ? "overflowing size"
                                                : FormatBytes(static_cast<double>(g.min_size));
    if (g.max_size != g.min_size && g.min_size != UINT64_MAX) {
      size += " to " + FormatBytes(static_cast<double>(g.max_size));
    }
    out << "  " << rank++ << ". " << CallName(f.call) << " of " << size
        << " failed: " << paint.Bad(ErrnoName(f.error)) << ", " << g.count
        << (g.count == 1 ? " time" : " times") << ", first at " << FormatSeconds(f.time_ns)
        << ", thread " << f.tid;
    auto name = r.model->threads.find(f.tid);
    if (name != r.model->threads.end() && !name->second.empty())
      out << " (" << Escape(name->second) << ")";
    out << "\n";
    size_t first = 0;
    while (first + 1 < g.frames.size() && g.frames[first].runtime) ++first;
    StackLines(g.frames, first, 8, out);
    const Diagnosis& d = g.diagnosis;
    Wrapped("     cause     ", CauseTitle(d.primary.cause), out);
    Wrapped("     because   ", d.primary.evidence, out);
    for (const Finding& other : d.others) {
      Wrapped("     also      ", std::string(CauseTitle(other.cause)) + ": " + other.evidence, out);
    }
    Wrapped("     remedy    ", CauseRemedy(d.primary.cause), out);
    if (f.headroom) {
      std::vector<std::string> lines = DescribeHeadroom(*f.headroom);
      for (size_t i = 0; i < lines.size(); ++i) {
        Wrapped(i == 0 ? "     headroom  " : "               ", lines[i], out);
      }
    }
  }
}

// Each time a limit came close: the figures then and who held the memory.
void Brinks(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  for (const BrinkReport& br : r.brinks) {
    const format::BrinkRecord& b = br.brink->record;
    std::string left = FormatBytes(static_cast<double>(b.headroom_bytes));
    if (b.reclaimable_bytes != format::kHeadroomUnknown && b.reclaimable_bytes > 0) {
      left += " (+ " + FormatBytes(static_cast<double>(b.reclaimable_bytes)) + " of file pages)";
    }
    out << "  at " << FormatSeconds(b.time_ns) << " the headroom under " << BrinkLimitName(b.kind)
        << " fell below " << b.percent << " %: " << left << " of "
        << FormatBytes(static_cast<double>(b.limit_bytes)) << " left\n";
    out << "    RSS " << FormatBytes(static_cast<double>(b.rss_bytes)) << ", VmSize "
        << FormatBytes(static_cast<double>(b.vm_size_bytes)) << ", C heap in use "
        << (b.heap_in_use_bytes == 0 ? "-" : FormatBytes(static_cast<double>(b.heap_in_use_bytes)))
        << ", recorded live " << Estimate(m.exact) << FormatBytes(br.brink->live_bytes) << "\n";
    if (br.sites.empty()) {
      out << "    nothing recorded was live\n";
      continue;
    }
    out << "    live then, by call site"
        << (br.sites_total > br.sites.size() ? " (top " + std::to_string(br.sites.size()) + " of " +
                                                   std::to_string(br.sites_total) + ")"
                                             : "")
        << ":\n";
    int rank = 1;
    for (const Site& s : br.sites) {
      const std::string e = Estimate(m.exact);
      std::string what;
      if (s.figures.live_bytes >= 0.5) {
        what = e + FormatBytes(s.figures.live_bytes) + " in " + e +
               FormatCount(s.figures.live_count) + " blocks";
      }
      if (s.figures.mapped_live_bytes >= 0.5) {
        what += (what.empty() ? "" : " + ") + FormatBytes(s.figures.mapped_live_bytes) + " mapped";
      }
      char line[200];
      std::snprintf(line, sizeof(line), "    %2d. %s\n", rank++, what.c_str());
      out << line;
      StackLines(s.frames, s.site_frame, 2, out);
    }
  }
}

// For a process cut short: what grew over its last snapshots, the brinks and the headroom
// trend. For another process that came close to a limit: the brinks.
void BeforeTheEnd(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  if (m.ending != Ending::kCutShort) {
    if (!r.brinks.empty()) {
      out << "\nClose to a memory limit\n";
      Brinks(r, out);
    }
    return;
  }
  out << "\nBefore the end (the recording stops at " << FormatSeconds(m.duration_ns)
      << "; the process was killed or is still running)\n";
  Brinks(r, out);
  if (m.growth_since_ns > 0) {
    out << "  growing since " << FormatSeconds(m.growth_since_ns) << ":\n";
    if (r.growth_before_end.empty()) out << "    nothing recorded grew\n";
    int rank = 1;
    for (const Site& s : r.growth_before_end) {
      char line[160];
      std::snprintf(line, sizeof(line), "  %2d. +%s%s live\n", rank++, Estimate(m.exact).c_str(),
                    FormatBytes(s.figures.live_bytes + s.figures.mapped_live_bytes).c_str());
      out << line;
      StackLines(s.frames, s.site_frame, 2, out);
    }
  }
  size_t n = m.snapshots.size();
  if (n == 0) return;
  out << "  last snapshots:\n";
  char head[200];
  std::snprintf(head, sizeof(head), "  %10s %11s %11s %11s %16s %13s\n", "time", "RSS", "VmSize",
                "heap live", "cgroup headroom", "MemAvailable");
  out << head;
  size_t first = n > 5 ? n - 5 : 0;
  for (size_t i = first; i < n; ++i) {
    const Snapshot& s = m.snapshots[i];
    const Headroom* h = nullptr;
    for (const Headroom& c : m.headrooms) {  // the latest taken by this snapshot
      if (c.record.time_ns <= s.time_ns) h = &c;
    }
    std::string room = h == nullptr ? "-" : LimitText(h->record.cgroup_headroom);
    std::string avail = h == nullptr || h->record.mem_available_kb == format::kHeadroomUnknown
                            ? "-"
                            : FormatBytes(static_cast<double>(h->record.mem_available_kb) * 1024);
    char line[200];
    std::snprintf(
        line, sizeof(line), "  %10s %11s %11s %11s %16s %13s\n", FormatSeconds(s.time_ns).c_str(),
        FormatBytes(static_cast<double>(s.rss_bytes)).c_str(),
        FormatBytes(static_cast<double>(s.vm_size_bytes)).c_str(),
        FormatBytes(static_cast<double>(s.heap_live_bytes)).c_str(), room.c_str(), avail.c_str());
    out << line;
  }
}

}  // namespace

void RenderText(const ProcessReport& r, std::ostream& out, const TextStyle& style) {
  const ProcessModel& m = *r.model;
  Paint paint{style.colour};
  std::string program = Escape(m.argv.empty() ? m.exe : m.argv[0]);
  out << paint.Title("== allocwatch: " + Clip(program, 60) + " (pid " + std::to_string(m.pid) +
                     ", parent " + std::to_string(m.ppid) + (m.fork_child ? ", forked" : "") +
                     ") ==")
      << "\n";
  out << "recording   " << Escape(m.path) << "\n";
  // The whole command line, escaped (so always one line); JSON has every argument's bytes.
  out << "command     " << Clip(Quote(m.argv), 4096) << "\n";
  if (m.exact) {
    out << "mode        exact: every allocation recorded\n";
  } else {
    out << "mode        sampled, mean period " << FormatBytes(static_cast<double>(m.sample_bytes))
        << " (~ marks estimates)\n";
  }
  if (r.still_running) out << "state       " << paint.Note("still running") << "\n";
  if (m.stopped_at_until) {
    out << "run time    " << FormatSeconds(m.duration_ns)
        << " (replay stopped at --until; the process went on)\n";
  } else if (r.still_running && m.ending == Ending::kCutShort) {
    out << "run time    " << FormatSeconds(m.duration_ns)
        << " so far (still running; figures as of the last record)\n";
  } else {
    out << "run time    " << FormatSeconds(m.duration_ns) << ", ended by " << EndingText(r) << "\n";
  }
  if (m.attached) {
    // The attach's wall-clock time, UTC (the recording's start).
    char when[32] = "";
    time_t seconds = static_cast<time_t>(m.start_realtime_ns / 1000000000);
    struct tm utc {};
    if (m.start_realtime_ns > 0 && gmtime_r(&seconds, &utc) != nullptr) {
      std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &utc);
    }
    out << "attached    " << (when[0] != '\0' ? std::string("at ") + when + ", " : "")
        << "by allocwatch attach: the recording began then\n"
        << "            blocks allocated before it are not in the recording";
    if (m.exact) {
      out << " (" << FormatCount(static_cast<double>(m.unknown_frees)) << " frees of them)";
    }
    out << "\n";
  }
  std::vector<std::pair<uint64_t, uint64_t>> windows = m.RecordedWindows();
  if (!m.controls.empty() && (!windows.empty() || !m.controls.front().recording)) {
    out << "recorded    ";
    if (windows.empty()) out << "never (recording stayed off)";
    for (size_t i = 0; i < windows.size(); ++i) {
      out << (i == 0 ? "" : ", ") << FormatSeconds(windows[i].first) << " to "
          << FormatSeconds(windows[i].second);
    }
    out << " (--paused, allocwatch ctl; outside: calls counted, not recorded";
    if (m.unknown_frees > 0) {
      out << "; " << FormatCount(static_cast<double>(m.unknown_frees))
          << " frees of blocks allocated then";
    }
    out << ")\n";
  }
  if (m.recovered.merged) {
    if (m.recovered.events == 0 && m.recovered.writer_bytes == 0) {
      out << "recovered   nothing: the tail file, read after the kill, held no record the "
             "recording lacked";
      if (m.recovered.torn_bytes == 0) out << " (it is whole up to the kill)";
    } else {
      out << "recovered   " << m.recovered.events << " heap events and "
          << FormatBytes(static_cast<double>(m.recovered.writer_bytes))
          << " of records from the tail file after the kill";
    }
    if (m.recovered.torn_bytes > 0) {
      out << "; " << m.recovered.torn_bytes << " bytes of one record cut by the kill dropped";
    }
    out << "\n";
  }
  if (m.options.since_ns > 0 || m.options.until_ns != UINT64_MAX || m.options.tid) {
    out << "filters    ";
    if (m.options.since_ns > 0) out << " since " << FormatSeconds(m.options.since_ns);
    if (m.options.until_ns != UINT64_MAX) out << " until " << FormatSeconds(m.options.until_ns);
    if (m.options.tid) out << " thread " << *m.options.tid;
    out << "\n";
  }
  Summary(r, paint, out);
  Leaks(r, paint, out);
  if (!r.mappings.empty()) {
    SiteList(
        "Mappings live at exit", r.mappings, 0,
        [](const SiteFigures& f) { return f.mapped_live_bytes; },
        [](const SiteFigures& f) { return static_cast<double>(f.mmap_calls); }, nullptr,
        "mmap calls", m.exact, paint, out);
  }
  if (!r.reserved.empty()) {
    SiteList(
        "Reserved address space at exit (PROT_NONE: not memory)", r.reserved, 0,
        [](const SiteFigures& f) { return f.reserved_live_bytes; },
        [](const SiteFigures& f) { return static_cast<double>(f.mmap_calls); }, nullptr,
        "mmap calls", m.exact, paint, out);
  }
  Growth(r, paint, out);
  SiteList(("At the peak (" + FormatBytes(m.peak_live_bytes) + " at " +
            FormatSeconds(m.peak_time_ns) + ")")
               .c_str(),
           r.peak, 0, [](const SiteFigures& f) { return f.live_bytes + f.mapped_live_bytes; },
           [](const SiteFigures& f) { return f.live_count; },
           [](const SiteFigures& f) { return f.live_bytes_var; }, "blocks", m.exact, paint, out);
  ResidentMemoryText(r, paint, out);
  if (m.exact) Temporaries(r, paint, out);
  SiteList(
      "Top allocating sites", r.allocators, r.allocator_sites_total,
      [](const SiteFigures& f) { return f.alloc_bytes; },
      [](const SiteFigures& f) { return f.alloc_count; },
      [](const SiteFigures& f) { return f.alloc_bytes_var; }, "calls", m.exact, paint, out);
  Failures(r, paint, out);
  BeforeTheEnd(r, out);
  if (!r.suppressed.patterns.empty()) {
    out << "\n" << paint.Title("Suppressed") << "\n";
    for (const auto& [pattern, n] : r.suppressed.patterns) {
      out << "  " << Clip(pattern, 70) << ": " << n << (n == 1 ? " stack" : " stacks") << "\n";
    }
  }
  if (!r.warnings.empty()) {
    out << "\n" << paint.Title("Warnings") << "\n";
    for (const std::string& w : r.warnings) out << "  - " << w << "\n";
  }
}

void RenderCombinedText(const CombinedReport& c, std::ostream& out, const TextStyle& style) {
  Paint paint{style.colour};
  std::string e = c.exact ? "" : "~";
  out << paint.Title("== allocwatch: all " + std::to_string(c.processes) + " processes ==") << "\n";
  out << "  allocated      " << e << FormatCount(c.totals.alloc_count) << " calls, " << e
      << FormatBytes(c.totals.alloc_bytes) << "\n";
  out << "  live at end    " << e << FormatBytes(c.totals.live_bytes) << " in " << e
      << FormatCount(c.totals.live_count) << " blocks";
  if (c.totals.mapped_live_bytes > 0)
    out << ", " << FormatBytes(c.totals.mapped_live_bytes) << " mapped";
  if (c.totals.discarded_live_bytes >= 0.5) {
    out << "\n  given back     " << FormatBytes(c.totals.discarded_live_bytes)
        << " of mappings by madvise (not resident until touched; in no figure here)";
  }
  if (c.totals.reserved_live_bytes > 0) {
    out << "\n  reserved       " << FormatBytes(c.totals.reserved_live_bytes)
        << " of address space (PROT_NONE: not memory, in no figure here)";
  }
  out << "\n  peaks, summed  " << e << FormatBytes(c.peak_sum)
      << " (each process's own peak; they need not coincide)\n";
  if (c.peak_rss_sum > 0) {
    out << "  peak RSS, sum  " << FormatBytes(static_cast<double>(c.peak_rss_sum)) << "\n";
  }
  out << "  failed calls   " << c.failures << "\n";
  Heading("Live at exit by call site, all processes", c.leaks.size(), c.leak_sites_total, paint,
          out);
  std::vector<SiteLine> lines;
  for (const Site& s : c.leaks) {
    lines.push_back(SiteLine{&s, s.figures.live_bytes, s.figures.live_count,
                             c.exact ? 0 : Bound(s.figures.live_bytes_var), ""});
  }
  SiteLines(lines, "blocks", c.exact, out);
}

}  // namespace allocwatch::report
