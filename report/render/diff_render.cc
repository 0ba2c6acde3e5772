// report/render/diff_render.cc: `allocwatch diff` as text and as JSON (schema "allocwatch.diff",
// report/JSON.md).
#include <cmath>
#include <cstdio>

#include "report/analysis/number_format.h"
#include "report/render/render.h"
#include "report/render/text_format.h"

namespace allocwatch::report {
namespace {

using nlohmann::json;

std::string Signed(double bytes) {
  std::string s = bytes > 0 ? "+" : "";
  return s + FormatBytes(bytes);
}

json SideJson(const DiffSide& s) {
  return {{"present", s.present},
          {"live_bytes", static_cast<int64_t>(std::llround(s.live_bytes))},
          {"live_count", static_cast<int64_t>(std::llround(s.live_count))},
          {"live_bytes_bound95", s.live_bytes_bound},
          {"slope_bytes_per_s", s.slope},
          {"r2", s.r2},
          {"growing", s.growing}};
}

}  // namespace

void RenderDiffText(const DiffReport& d, std::ostream& out, const TextStyle& style) {
  Paint paint{style.colour};
  std::string e = d.exact ? "" : "~";
  auto processes = [](size_t n) {
    return std::to_string(n) + (n == 1 ? " process" : " processes");
  };
  out << paint.Title("== allocwatch diff: BASE (" + processes(d.base_processes) + ") -> NEW (" +
                     processes(d.next_processes) + ") ==")
      << "\n";
  out << "live at end    " << e << FormatBytes(d.base_live) << " -> " << e
      << FormatBytes(d.next_live) << " (" << Signed(d.next_live - d.base_live) << ")\n";
  out << "total growth   " << FormatRate(d.base_slope) << " -> " << FormatRate(d.next_slope)
      << "\n";
  out << "\n" << paint.Title("Changes by call site");
  if (d.entries_total > d.entries.size()) {
    out << " (top " << d.entries.size() << " of " << d.entries_total << " sites)";
  }
  out << "\n";
  if (d.entries.empty()) {
    out << "  none: every site holds the same live bytes at the same rate\n";
    return;
  }
  int rank = 1;
  for (const DiffEntry& x : d.entries) {
    char line[200];
    std::snprintf(line, sizeof(line), "  %2d. live %s%s -> %s%s (%s); growth %s -> %s", rank++,
                  e.c_str(), FormatBytes(x.base.live_bytes).c_str(), e.c_str(),
                  FormatBytes(x.next.live_bytes).c_str(), Signed(x.live_change()).c_str(),
                  FormatRate(x.base.slope).c_str(), FormatRate(x.next.slope).c_str());
    out << line;
    if (x.started_growing()) {
      out << "  " << paint.Bad("started growing");
    } else if (x.base.growing && !x.next.growing) {
      out << "  stopped growing";
    } else if (!x.base.present) {
      out << "  new site";
    } else if (!x.next.present) {
      out << "  gone";
    }
    out << "\n";
    const Site& s = x.site;
    if (s.frames.empty()) {
      out << "        (no stack)\n";
    } else {
      out << "        at " << Clip(DescribeFrame(s.frames[s.site_frame]), 89) << "\n";
      if (s.site_frame + 1 < s.frames.size()) {
        out << "      from " << Clip(DescribeFrame(s.frames[s.site_frame + 1]), 89) << "\n";
      }
    }
  }
}

json RenderDiffJson(const DiffReport& d) {
  json entries = json::array();
  for (const DiffEntry& x : d.entries) {
    json frames = json::array();
    for (const DisplayFrame& f : x.site.frames) {
      json fj = {{"address", f.address},
                 {"module", f.module},
                 {"module_offset", f.module_offset},
                 {"inlined", f.inlined},
                 {"runtime", f.runtime}};
      if (!f.function.empty()) fj["function"] = f.function;
      if (!f.file.empty()) fj["file"] = f.file;
      if (f.line > 0) fj["line"] = f.line;
      frames.push_back(std::move(fj));
    }
    entries.push_back(
        {{"key", x.key},
         {"site",
          x.site.frames.empty() ? "(no stack)" : DescribeFrame(x.site.frames[x.site.site_frame])},
         {"site_frame", x.site.site_frame},
         {"base", SideJson(x.base)},
         {"new", SideJson(x.next)},
         {"live_bytes_change", static_cast<int64_t>(std::llround(x.live_change()))},
         {"slope_change_bytes_per_s", x.slope_change()},
         {"started_growing", x.started_growing()},
         {"frames", frames}});
  }
  return {{"schema", "allocwatch.diff"},
          {"version", 1},
          {"exact", d.exact},
          {"base",
           {{"processes", d.base_processes},
            {"live_bytes", static_cast<int64_t>(std::llround(d.base_live))},
            {"slope_bytes_per_s", d.base_slope}}},
          {"new",
           {{"processes", d.next_processes},
            {"live_bytes", static_cast<int64_t>(std::llround(d.next_live))},
            {"slope_bytes_per_s", d.next_slope}}},
          {"sites", entries},
          {"sites_total", d.entries_total}};
}

}  // namespace allocwatch::report
