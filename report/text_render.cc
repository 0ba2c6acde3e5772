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

// Length of the valid UTF-8 sequence (2 to 4 bytes) starting at s[i], or 0.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
      (c == 0xF4 && c1 > 0x8F)) {
    return 0;  // overlong, surrogate or beyond U+10FFFF
  }
  return n;
}

// Control characters and bytes that are not UTF-8 as \n, \t, \xNN (so a recorded command line,
// path or thread name can neither break a report line nor send terminal escapes).
// Sets *escaped when anything was replaced.
std::string Escape(const std::string& s, bool* escaped = nullptr) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  bool any = false;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '\\') out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      if (n > 0) {
        out.append(s, i, n);
        i += n;
        continue;
      }
    }
    any = true;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    ++i;
  }
  if (escaped != nullptr) *escaped = any;
  return out;
}

// The command line as a shell would take it back: plain words, '...' quoting, and $'...' for
// arguments with escaped bytes.
std::string Quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool escaped = false;
    std::string e = Escape(a, &escaped);
    if (escaped) {
      out += "$'";
      for (char c : e) {
        if (c == '\'') out += '\\';
        out += c;
      }
      out += "'";
      continue;
    }
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += "'";
      for (char c : a) {
        if (c == '\'') {
          out.append("'\\''");
        } else {
          out += c;
        }
      }
      out += "'";
    }
  }
  return out;
}

std::string EndingText(const ProcessModel& m) {
  switch (m.ending) {
    case Ending::kExit: return "exit()";
    case Ending::kUnderscoreExit: return "_exit(" + std::to_string(m.exit_status) + ")";
    case Ending::kExec:
      return "exec of " + Escape(m.exec_path) + " (the new program has its own recording)";
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
    if (name != r.model->threads.end() && !name->second.empty()) out << " (" << Escape(name->second) << ")";
    out << "\n";
    size_t first = 0;
    while (first + 1 < g.frames.size() && g.frames[first].runtime) ++first;
    StackLines(g.frames, first, 8, out);
  }
}

}  // namespace

void RenderText(const ProcessReport& r, std::ostream& out) {
  const ProcessModel& m = *r.model;
  std::string program = Escape(m.argv.empty() ? m.exe : m.argv[0]);
  out << "== allocwatch: " << Clip(program, 60) << " (pid " << m.pid << ", parent " << m.ppid
      << (m.fork_child ? ", forked" : "") << ") ==\n";
  out << "recording   " << Escape(m.path) << "\n";
  // The whole command line (escaped, so always one line), up to a sane length.
  out << "command     " << Clip(Quote(m.argv), 4096) << "\n";
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
  // Figures from a damaged recording can be anything: no integer conversion out of range.
  if (!std::isfinite(count) || std::fabs(count) >= 1e18) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3g", count);
    return buf;
  }
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
