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

// A headroom figure: null when unknown, "unlimited" when there is no limit.
json Figure(uint64_t v) {
  if (v == format::kHeadroomUnknown) return nullptr;
  if (v == format::kHeadroomUnlimited) return "unlimited";
  return v;
}

json LevelJson(const format::CgroupLevel& l) {
  return {{"limit", Figure(l.limit)},           {"usage", Figure(l.usage)},
          {"high", Figure(l.high)},             {"swap_limit", Figure(l.swap_limit)},
          {"swap_usage", Figure(l.swap_usage)}, {"events_max", Figure(l.events_max)},
          {"events_oom", Figure(l.events_oom)}, {"events_oom_kill", Figure(l.events_oom_kill)}};
}

json HeadroomJson(const Headroom& h) {
  const format::HeadroomRecord& r = h.record;
  json levels = json::array();
  for (const format::CgroupLevel& l : h.levels) levels.push_back(LevelJson(l));
  return {{"time_ns", r.time_ns},
          {"periodic", h.periodic},
          {"rlimit_as", {Figure(r.rlimit_as_cur), Figure(r.rlimit_as_max)}},
          {"rlimit_data", {Figure(r.rlimit_data_cur), Figure(r.rlimit_data_max)}},
          {"rlimit_memlock", {Figure(r.rlimit_memlock_cur), Figure(r.rlimit_memlock_max)}},
          {"vm_size_kb", Figure(r.vm_size_kb)}, {"vm_data_kb", Figure(r.vm_data_kb)},
          {"vm_lck_kb", Figure(r.vm_lck_kb)}, {"vm_rss_kb", Figure(r.vm_rss_kb)}, {"threads", Figure(r.threads)},
          {"cap_eff", Figure(r.cap_eff)}, {"map_count", Figure(r.map_count)},
          {"largest_gap_bytes", Figure(r.largest_gap_bytes)}, {"max_map_count", Figure(r.max_map_count)},
          {"overcommit_memory", Figure(r.overcommit_memory)}, {"overcommit_ratio", Figure(r.overcommit_ratio)},
          {"overcommit_kbytes", Figure(r.overcommit_kbytes)}, {"admin_reserve_kb", Figure(r.admin_reserve_kb)},
          {"user_reserve_kb", Figure(r.user_reserve_kb)}, {"mem_total_kb", Figure(r.mem_total_kb)},
          {"mem_available_kb", Figure(r.mem_available_kb)}, {"swap_total_kb", Figure(r.swap_total_kb)},
          {"swap_free_kb", Figure(r.swap_free_kb)}, {"commit_limit_kb", Figure(r.commit_limit_kb)},
          {"committed_as_kb", Figure(r.committed_as_kb)}, {"huge_page_kb", Figure(r.huge_page_kb)},
          {"huge_total", Figure(r.huge_total)}, {"huge_free", Figure(r.huge_free)}, {"huge_rsvd", Figure(r.huge_rsvd)},
          {"huge_surplus", Figure(r.huge_surplus)}, {"huge_overcommit", Figure(r.huge_overcommit)},
          {"vmstat_oom_kill", Figure(r.vmstat_oom_kill)},
          {"cgroup",
           {{"version", r.cgroup_version}, {"flags", r.cgroup_flags}, {"path", h.cgroup_path},
            {"headroom", Figure(r.cgroup_headroom)}, {"effective_limit", Figure(r.cgroup_effective_limit)},
            {"binding_level", r.cgroup_binding_level == UINT32_MAX ? json(nullptr)
                                                                    : json(r.cgroup_binding_level)},
            {"total_levels", r.cgroup_total_levels},
            {"levels", levels}}},
          {"psi", {{"some_avg10_x100", Figure(r.psi_some_avg10_x100)},
                   {"full_avg10_x100", Figure(r.psi_full_avg10_x100)},
                   {"full_total_us", Figure(r.psi_full_total_us)}}}};
}

json FindingJson(const Finding& f) {
  return {{"cause", CauseName(f.cause)}, {"title", CauseTitle(f.cause)}, {"evidence", f.evidence}};
}

json FailureJson(const FailureGroup& g) {
  const Failure& f = g.first;
  json others = json::array();
  for (const Finding& o : g.diagnosis.others) others.push_back(FindingJson(o));
  json diagnosis = FindingJson(g.diagnosis.primary);
  diagnosis["remedy"] = CauseRemedy(g.diagnosis.primary.cause);
  diagnosis["also"] = others;
  return {{"diagnosis", diagnosis},
          {"headroom", f.headroom ? HeadroomJson(*f.headroom) : json(nullptr)},
          {"call", CallName(f.call)},
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
  json headrooms = json::array();
  for (const Headroom& h : m.headrooms) headrooms.push_back(HeadroomJson(h));
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
      {"headroom_snapshots", headrooms},
      {"growth_before_end", {{"since_ns", m.growth_since_ns}, {"sites", SiteArray(r.growth)}}},
      {"warnings", r.warnings},
      {"period_changes", PeriodChangesJson(m)}};
}

json RenderJsonDocument(const std::vector<ProcessReport>& reports) {
  json processes = json::array();
  for (const ProcessReport& r : reports) processes.push_back(RenderJson(r));
  return {{"schema", "allocwatch.report"}, {"version", 1}, {"processes", processes}};
}

}  // namespace allocwatch::report
