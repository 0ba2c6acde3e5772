// report/text_render.cc: the terminal report (fits 100 columns, no colour needed).
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "report/render.h"

namespace allocwatch::report {
namespace {

constexpr size_t kWidth = 100;
constexpr size_t kCallerLines = 4;

std::string Clip(const std::string& s, size_t width) {
  return s.size() <= width ? s : s.substr(0, width - 3) + "...";
}

std::string Quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    out += plain ? a : "'" + a + "'";
  }
  return out;
}

std::string EndingText(const ProcessModel& m) {
  switch (m.ending) {
    case Ending::kExit: return "exit()";
    case Ending::kUnderscoreExit: return "_exit(" + std::to_string(m.exit_status) + ")";
    case Ending::kExec: return "exec of " + m.exec_path + " (the new program has its own recording)";
    case Ending::kCutShort: break;
  }
  return "cut short: no end record (killed by a signal, or still running); figures are as of "
         "the last record";
}

void StackLines(const std::vector<DisplayFrame>& frames, size_t first, size_t callers,
                std::ostream& out) {
  if (frames.empty()) {
    out << "        (no stack)\n";
    return;
  }
  size_t last = std::min(frames.size(), first + 1 + callers);
  for (size_t i = first; i < last; ++i) {
    out << (i == first ? "        at " : "      from ") << Clip(DescribeFrame(frames[i]), kWidth - 11)
        << "\n";
  }
  if (last < frames.size()) out << "        ... " << frames.size() - last << " more frames\n";
}

// Writes `label` then `text`, wrapped at word boundaries to kWidth, continuation lines indented
// under the text.
void Wrapped(const std::string& label, const std::string& text, std::ostream& out) {
  size_t pos = text.find_first_not_of(' ');
  if (pos == std::string::npos) pos = text.size();
  const std::string first = label + text.substr(0, pos);  // leading spaces stay as indentation
  const size_t indent = first.size();
  std::string line = first;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(pos, end - pos);
    if (line.size() > indent && line.size() + 1 + word.size() > kWidth) {
      out << line << "\n";
      line = std::string(indent, ' ');
    } else if (line.size() > indent) {
      line += ' ';
    }
    line += word;
    pos = end + 1;
  }
  out << line << "\n";
}

std::string Estimate(const ProcessModel& m) { return m.exact ? "" : "~"; }

void SiteList(const char* title, const std::vector<Site>& sites, size_t total,
              double (*bytes)(const SiteFigures&), double (*count)(const SiteFigures&),
              const char* unit, const ProcessModel& m, std::ostream& out) {
  out << "\n" << title;
  if (total > sites.size()) out << " (top " << sites.size() << " of " << total << " sites)";
  out << "\n";
  if (sites.empty()) {
    out << "  none\n";
    return;
  }
  int rank = 1;
  for (const Site& s : sites) {
    char line[160];
    std::string n = FormatCount(count(s.figures));
    std::string units = n == "1" ? std::string(unit).substr(0, std::strlen(unit) - 1) : unit;
    std::snprintf(line, sizeof(line), "  %2d. %s%-11s %s%s %s\n", rank++, Estimate(m).c_str(),
                  FormatBytes(bytes(s.figures)).c_str(), Estimate(m).c_str(), n.c_str(),
                  units.c_str());
    out << line;
    StackLines(s.frames, s.site_frame, kCallerLines, out);
  }
}

void Summary(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  const SiteFigures& t = m.totals;
  std::string e = Estimate(m);
  out << "\nSummary\n";
  out << "  allocated      " << e << FormatCount(t.alloc_count) << " calls, " << e
      << FormatBytes(t.alloc_bytes) << " (malloc, calloc, realloc, memalign & co.)\n";
  if (t.mmap_calls > 0) {
    out << "  mapped         " << FormatCount(static_cast<double>(t.mmap_calls)) << " calls, "
        << FormatBytes(t.mapped_bytes) << " (mmap, mremap)\n";
  }
  out << "  peak live      " << e << FormatBytes(m.peak_live_bytes) << " at "
      << FormatSeconds(m.peak_time_ns) << " (heap blocks and mappings)\n";
  if (r.peak_rss_bytes > 0) {
    out << "  peak RSS       " << FormatBytes(static_cast<double>(r.peak_rss_bytes)) << " at "
        << FormatSeconds(r.peak_rss_time_ns) << " (sampled every snapshot)\n";
  }
  out << "  live at end    " << e << FormatBytes(t.live_bytes) << " in " << e
      << FormatCount(t.live_count) << " blocks";
  if (t.mapped_live_bytes > 0) out << ", " << FormatBytes(t.mapped_live_bytes) << " mapped";
  out << "\n  failed calls   " << m.failures.size() << "\n";
}

void Failures(const ProcessReport& r, std::ostream& out) {
  out << "\nFailed allocations";
  if (r.failures.empty()) {
    out << "\n  none\n";
    return;
  }
  size_t n = r.model->failures.size();
  out << " (" << n << (n == 1 ? " call" : " calls") << ")\n";
  int rank = 1;
  for (const FailureGroup& g : r.failures) {
    const Failure& f = g.first;
    std::string size = g.min_size == UINT64_MAX ? "overflowing size" : FormatBytes(static_cast<double>(g.min_size));
    if (g.max_size != g.min_size && g.min_size != UINT64_MAX) {
      size += " to " + FormatBytes(static_cast<double>(g.max_size));
    }
    out << "  " << rank++ << ". " << CallName(f.call) << " of " << size << " failed: "
        << ErrnoName(f.error) << ", " << g.count << (g.count == 1 ? " time" : " times") << ", first at "
        << FormatSeconds(f.time_ns) << ", thread " << f.tid;
    auto name = r.model->threads.find(f.tid);
    if (name != r.model->threads.end() && !name->second.empty()) out << " (" << name->second << ")";
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

// For a process cut short: what grew over its last snapshots, and the headroom trend.
void BeforeTheEnd(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  if (m.ending != Ending::kCutShort) return;
  out << "\nBefore the end (the recording stops at " << FormatSeconds(m.duration_ns)
      << "; the process was killed or is still running)\n";
  if (m.growth_since_ns > 0) {
    out << "  growing since " << FormatSeconds(m.growth_since_ns) << ":\n";
    if (r.growth.empty()) out << "    nothing recorded grew\n";
    int rank = 1;
    for (const Site& s : r.growth) {
      char line[160];
      std::snprintf(line, sizeof(line), "  %2d. +%s%s live\n", rank++, Estimate(m).c_str(),
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
    std::snprintf(line, sizeof(line), "  %10s %11s %11s %11s %16s %13s\n",
                  FormatSeconds(s.time_ns).c_str(),
                  FormatBytes(static_cast<double>(s.rss_bytes)).c_str(),
                  FormatBytes(static_cast<double>(s.vm_size_bytes)).c_str(),
                  FormatBytes(static_cast<double>(s.heap_live_bytes)).c_str(), room.c_str(),
                  avail.c_str());
    out << line;
  }
}

}  // namespace

void RenderText(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  std::string program = m.argv.empty() ? m.exe : m.argv[0];
  out << "== allocwatch: " << Clip(program, 60) << " (pid " << m.pid << ", parent " << m.ppid
      << (m.fork_child ? ", forked" : "") << ") ==\n";
  out << "recording   " << m.path << "\n";
  out << "command     " << Clip(Quote(m.argv), kWidth - 12) << "\n";
  if (m.exact) {
    out << "mode        exact: every allocation recorded\n";
  } else {
    out << "mode        sampled, mean period " << FormatBytes(static_cast<double>(m.sample_bytes))
        << " (~ marks estimates)\n";
  }
  out << "run time    " << FormatSeconds(m.duration_ns) << ", ended by " << EndingText(m) << "\n";
  Summary(r, out);
  SiteList("Live at exit by call site", r.leaks, r.leak_sites_total,
           [](const SiteFigures& f) { return f.live_bytes; },
           [](const SiteFigures& f) { return f.live_count; }, "blocks", m, out);
  if (!r.mappings.empty()) {
    SiteList("Mappings live at exit", r.mappings, 0,
             [](const SiteFigures& f) { return f.mapped_live_bytes; },
             [](const SiteFigures& f) { return static_cast<double>(f.mmap_calls); }, "mmap calls",
             m, out);
  }
  SiteList(("At the peak (" + FormatBytes(m.peak_live_bytes) + " at " +
            FormatSeconds(m.peak_time_ns) + ")").c_str(),
           r.peak, 0, [](const SiteFigures& f) { return f.live_bytes + f.mapped_live_bytes; },
           [](const SiteFigures& f) { return f.live_count; }, "blocks", m, out);
  SiteList("Top allocating sites", r.allocators, r.allocator_sites_total,
           [](const SiteFigures& f) { return f.alloc_bytes; },
           [](const SiteFigures& f) { return f.alloc_count; }, "calls", m, out);
  Failures(r, out);
  BeforeTheEnd(r, out);
  if (!r.warnings.empty()) {
    out << "\nWarnings\n";
    for (const std::string& w : r.warnings) out << "  - " << w << "\n";
  }
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = std::fabs(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%s%.0f B", bytes < 0 ? "-" : "", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%s%.2f %s", bytes < 0 ? "-" : "", v, units[u]);
  }
  return buf;
}

std::string FormatCount(double count) {
  auto n = static_cast<long long>(std::llround(count));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string FormatSeconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace allocwatch::report
