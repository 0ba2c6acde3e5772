// report/json_render.cc: the machine-readable report (schema "allocwatch.report", version 1).
// The schema is described in report/README.md.
#include <cmath>

#include "report/render.h"

namespace allocwatch::report {
namespace {

using nlohmann::json;

json Num(double v) { return static_cast<int64_t>(std::llround(v)); }

json Frame(const DisplayFrame& f) {
  json j = {{"address", f.address}, {"module", f.module}, {"module_offset", f.module_offset}};
  if (!f.function.empty()) j["function"] = f.function;
  if (!f.file.empty()) j["file"] = f.file;
  if (f.line > 0) j["line"] = f.line;
  j["inlined"] = f.inlined;
  j["runtime"] = f.runtime;
  return j;
}

json Frames(const std::vector<DisplayFrame>& frames) {
  json out = json::array();
  for (const DisplayFrame& f : frames) out.push_back(Frame(f));
  return out;
}

json SiteJson(const Site& s) {
  const SiteFigures& f = s.figures;
  return {{"site", s.site_frame < s.frames.size() ? DescribeFrame(s.frames[s.site_frame]) : "?"},
          {"site_frame", s.site_frame},
          {"stacks", s.stack_count},
          {"alloc_count", Num(f.alloc_count)},
          {"alloc_bytes", Num(f.alloc_bytes)},
          {"live_count", Num(f.live_count)},
          {"live_bytes", Num(f.live_bytes)},
          {"samples", f.samples},
          {"live_samples", f.live_samples},
          {"mmap_calls", f.mmap_calls},
          {"mapped_bytes", Num(f.mapped_bytes)},
          {"mapped_live_bytes", Num(f.mapped_live_bytes)},
          {"frames", Frames(s.frames)}};
}

json SiteArray(const std::vector<Site>& sites) {
  json out = json::array();
  for (const Site& s : sites) out.push_back(SiteJson(s));
  return out;
}

const char* EndingName(Ending e) {
  switch (e) {
    case Ending::kExit: return "exit";
    case Ending::kUnderscoreExit: return "_exit";
    case Ending::kExec: return "exec";
    case Ending::kCutShort: return "cut_short";
  }
  return "unknown";
}

json FailureJson(const FailureGroup& g) {
  const Failure& f = g.first;
  return {{"call", CallName(f.call)},
          {"args", {f.args[0], f.args[1], f.args[2], f.args[3]}},
          {"size", FailureSize(f)},
          {"errno", f.error},
          {"errno_name", ErrnoName(f.error)},
          {"result", f.result},
          {"count", g.count},
          {"first_time_ns", f.time_ns},
          {"last_time_ns", g.last_time_ns},
          {"tid", f.tid},
          {"frames", Frames(g.frames)}};
}

}  // namespace

json PeriodChangesJson(const ProcessModel& m) {
  json out = json::array();
  for (const ProcessModel::PeriodChange& c : m.period_changes) {
    out.push_back({{"time_ns", c.time_ns}, {"old_sample_bytes", c.old_sample_bytes},
                   {"new_sample_bytes", c.new_sample_bytes}, {"write_ns", c.write_ns},
                   {"interval_ns", c.interval_ns}});
  }
  return out;
}

json RenderJson(const ProcessReport& r) {
  const ProcessModel& m = *r.model;
  const SiteFigures& t = m.totals;
  json snapshots = json::array();
  for (const Snapshot& s : m.snapshots) {
    snapshots.push_back({{"time_ns", s.time_ns},
                         {"heap_live_bytes", s.heap_live_bytes},
                         {"heap_allocated_bytes", s.heap_allocated_bytes},
                         {"alloc_calls", s.alloc_calls},
                         {"free_calls", s.free_calls},
                         {"mmap_live_bytes", s.mmap_live_bytes},
                         {"rss_bytes", s.rss_bytes},
                         {"vm_size_bytes", s.vm_size_bytes}});
  }
  json failures = json::array();
  for (const FailureGroup& g : r.failures) failures.push_back(FailureJson(g));
  return {
      {"recording", m.path},
      {"process",
       {{"pid", m.pid}, {"ppid", m.ppid}, {"exe", m.exe}, {"argv", m.argv},
        {"forked", m.fork_child}, {"session", m.session_id}, {"kernel", m.kernel},
        {"start_realtime_ns", m.start_realtime_ns}}},
      {"mode", {{"exact", m.exact}, {"sample_bytes", m.sample_bytes}}},
      {"end",
       {{"how", EndingName(m.ending)}, {"exit_status", m.exit_status}, {"exec", m.exec_path},
        {"duration_ns", m.duration_ns}, {"lost_events", m.lost_events}}},
      {"totals",
       {{"alloc_count", Num(t.alloc_count)}, {"alloc_bytes", Num(t.alloc_bytes)},
        {"live_count", Num(t.live_count)}, {"live_bytes", Num(t.live_bytes)},
        {"mmap_calls", t.mmap_calls}, {"mapped_bytes", Num(t.mapped_bytes)},
        {"mapped_live_bytes", Num(t.mapped_live_bytes)}, {"failures", m.failures.size()}}},
      {"peak",
       {{"live_bytes", Num(m.peak_live_bytes)}, {"time_ns", m.peak_time_ns},
        {"rss_bytes", r.peak_rss_bytes}, {"rss_time_ns", r.peak_rss_time_ns},
        {"sites", SiteArray(r.peak)}}},
      {"leaks", SiteArray(r.leaks)},
      {"mappings", SiteArray(r.mappings)},
      {"allocators", SiteArray(r.allocators)},
      {"failures", failures},
      {"snapshots", snapshots},
      {"warnings", r.warnings},
      {"period_changes", PeriodChangesJson(m)}};
}

json RenderJsonDocument(const std::vector<ProcessReport>& reports) {
  json processes = json::array();
  for (const ProcessReport& r : reports) processes.push_back(RenderJson(r));
  return {{"schema", "allocwatch.report"}, {"version", 1}, {"processes", processes}};
}

}  // namespace allocwatch::report
