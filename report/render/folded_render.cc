// report/render/folded_render.cc: folded stacks ("root;...;leaf value"), the input of
// flamegraph.pl, inferno, speedscope and similar tools.
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "report/render/render.h"

namespace allocwatch::report {
namespace {

double Value(const StackEntry& e, FoldedMetric metric) {
  switch (metric) {
    case FoldedMetric::kInuseSpace:
      return e.figures.live_bytes + e.figures.mapped_live_bytes;
    case FoldedMetric::kInuseObjects:
      return e.figures.live_count;
    case FoldedMetric::kAllocSpace:
      return e.figures.alloc_bytes + e.figures.mapped_bytes;
    case FoldedMetric::kAllocObjects:
      return e.figures.alloc_count + static_cast<double>(e.figures.mmap_calls);
    case FoldedMetric::kPeakSpace:
      return e.at_peak.live_bytes + e.at_peak.mapped_live_bytes;
    case FoldedMetric::kPeakObjects:
      return e.at_peak.live_count;
  }
  return 0;
}

// Folded lines separate frames with ';' and the value with the last space.
std::string Clean(std::string s) {
  for (char& c : s) {
    if (c == ';') c = ':';
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool ParseFoldedMetric(const std::string& name, FoldedMetric* metric) {
  const std::pair<const char*, FoldedMetric> kNames[] = {
      {"inuse_space", FoldedMetric::kInuseSpace}, {"inuse_objects", FoldedMetric::kInuseObjects},
      {"alloc_space", FoldedMetric::kAllocSpace}, {"alloc_objects", FoldedMetric::kAllocObjects},
      {"peak_space", FoldedMetric::kPeakSpace},   {"peak_objects", FoldedMetric::kPeakObjects}};
  for (const auto& [n, m] : kNames) {
    if (name == n) {
      *metric = m;
      return true;
    }
  }
  return false;
}

std::string FoldedFrameName(const DisplayFrame& f) {
  if (!f.function.empty()) return f.function;
  char buf[48];
  if (!f.module.empty()) {
    std::snprintf(buf, sizeof(buf), "+0x%" PRIx64, f.module_offset);
    return Basename(f.module) + buf;
  }
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, f.address);
  return buf;
}

void RenderFolded(const std::vector<ProcessReport>& reports, FoldedMetric metric,
                  std::ostream& out) {
  for (const ProcessReport& r : reports) {
    const ProcessModel& m = *r.model;
    std::string prefix;
    if (reports.size() > 1) {
      prefix = Clean(Basename(m.argv.empty() ? m.exe : m.argv[0])) + " (pid " +
               std::to_string(m.pid) + ")";
    }
    for (const StackEntry& e : r.stacks) {
      auto value = static_cast<long long>(std::llround(Value(e, metric)));
      if (value <= 0) continue;
      std::string line = prefix;
      for (size_t i = e.frames.size(); i-- > 0;) {
        if (!line.empty()) line += ';';
        line += Clean(FoldedFrameName(e.frames[i]));
      }
      if (line.empty()) line = "(no stack)";
      out << line << ' ' << value << '\n';
    }
  }
}

}  // namespace allocwatch::report
