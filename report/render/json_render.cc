// report/render/json_render.cc: the machine-readable report (schema "allocwatch.report").
// The schema is described in report/JSON.md.
#include <cmath>

#include "report/analysis/failed_call.h"
#include "report/render/render.h"

namespace allocwatch::report {
using nlohmann::json;

json FrameJson(const DisplayFrame& f) {
  json j = {{"address", f.address}, {"module", f.module}, {"module_offset", f.module_offset}};
  if (!f.function.empty()) j["function"] = f.function;
  if (!f.file.empty()) j["file"] = f.file;
  if (f.line > 0) j["line"] = f.line;
  j["inlined"] = f.inlined;
  j["runtime"] = f.runtime;
  return j;
}

namespace {

json Num(double v) { return static_cast<int64_t>(std::llround(v)); }

json Frame(const DisplayFrame& f) { return FrameJson(f); }

json Frames(const std::vector<DisplayFrame>& frames) {
  json out = json::array();
  for (const DisplayFrame& f : frames) out.push_back(Frame(f));
  return out;
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

json FitJson(const LinearFit& fit) {
  return {{"slope_bytes_per_s", fit.slope},
          {"intercept_bytes", fit.intercept},
          {"r2", fit.r2},
          {"points", fit.points}};
}

// null, or where the rise peaked and what the end left.
json ReleasedJson(const ProcessModel& m, const std::optional<ReleasedGrowth>& g) {
  if (!g) return nullptr;
  return {{"peak_bytes", g->peak_bytes},
          {"peak_s", Seconds(m.series_times_ns[g->peak_index])},
          {"end_bytes", g->end_bytes}};
}

json SiteJson(const Site& s) {
  const SiteFigures& f = s.figures;
  json j = {{"site", s.site_frame < s.frames.size() ? DescribeFrame(s.frames[s.site_frame]) : "?"},
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
            {"reserved_live_bytes", Num(f.reserved_live_bytes)},
            {"discarded_live_bytes", Num(f.discarded_live_bytes)},
            {"temporary_count", f.temporary_count},
            {"bounds95",
             {{"alloc_count", Bound(f.alloc_count_var)},
              {"alloc_bytes", Bound(f.alloc_bytes_var)},
              {"live_count", Bound(f.live_count_var)},
              {"live_bytes", Bound(f.live_bytes_var)}}},
            {"key", s.key},
            {"frames", Frames(s.frames)}};
  if (f.newest_live_ns > 0) j["newest_live_ns"] = f.newest_live_ns;
  if (f.oldest_live_ns != UINT64_MAX) j["oldest_live_ns"] = f.oldest_live_ns;
  return j;
}

json FiguresJson(const SiteFigures& f) {
  return {{"alloc_count", Num(f.alloc_count)},
          {"alloc_bytes", Num(f.alloc_bytes)},
          {"live_count", Num(f.live_count)},
          {"live_bytes", Num(f.live_bytes)},
          {"mapped_live_bytes", Num(f.mapped_live_bytes)},
          {"reserved_live_bytes", Num(f.reserved_live_bytes)}};
}

json Series(const std::vector<uint64_t>& times, const std::vector<double>& y) {
  json out = json::array();
  for (size_t i = 0; i < times.size() && i < y.size(); ++i) {
    out.push_back(json::array({Seconds(times[i]), Num(y[i])}));
  }
  return out;
}

json BreakdownJson(const RssBreakdown& b) {
  return {{"time_s", Seconds(b.time_ns)},
          {"rss_bytes", Num(b.rss)},
          {"anon_bytes", Num(b.anon)},
          {"file_bytes", Num(b.file)},
          {"shmem_bytes", Num(b.shmem)},
          {"swap_bytes", Num(b.swap)},
          {"threads", b.threads},
          {"live_heap_bytes", Num(b.live_heap)},
          {"live_heap_bound95", Num(b.live_heap_bound)},
          {"heap_known", b.heap_known},
          {"heap_overhead_bytes", Num(b.overhead)},
          {"arena_bytes", Num(b.arena_bytes)},
          {"arena_free_bytes", Num(b.arena_free)},
          {"releasable_bytes", Num(b.releasable)},
          {"heap_mmapped_bytes", Num(b.heap_mmapped)},
          {"arenas", b.arenas},
          {"mapped_anon_bytes", Num(b.mapped_anon)},
          {"mapped_shared_bytes", Num(b.mapped_shared)},
          {"mapped_file_bytes", Num(b.mapped_file)},
          {"reserved_bytes", Num(b.reserved)},
          {"discarded_bytes", Num(b.discarded)},
          {"unexplained_bytes", Num(b.unexplained)},
          {"foreign_malloc", b.foreign_malloc}};
}

// null for a recording without memory snapshots (before version 4).
json MemoryJson(const MemoryReport& mr) {
  if (!mr.at_peak || !mr.at_end) return nullptr;
  json causes = json::array();
  for (const MemoryCause& c : mr.causes) {
    json site = nullptr;
    if (c.site) site = SiteJson(*c.site);
    causes.push_back({{"cause", MemoryCauseName(c.kind)},
                      {"summary", c.summary},
                      {"evidence", c.evidence},
                      {"remedy", c.remedy},
                      {"site", site}});
  }
  json series = json::array();
  for (const RssBreakdown& b : mr.series) series.push_back(BreakdownJson(b));
  return {{"at_peak", BreakdownJson(*mr.at_peak)},
          {"at_end", BreakdownJson(*mr.at_end)},
          {"runtime", mr.runtime},
          {"causes", causes},
          {"series", series}};
}

json LeakJson(const Leak& l) {
  json j = SiteJson(l.site);
  j["kind"] = LeakKindName(l.kind);
  j["growth"] = FitJson(l.fit);
  return j;
}

json SiteArray(const std::vector<Site>& sites) {
  json out = json::array();
  for (const Site& s : sites) out.push_back(SiteJson(s));
  return out;
}

const char* EndingName(Ending e) {
  switch (e) {
    case Ending::kExit:
      return "exit";
    case Ending::kUnderscoreExit:
      return "_exit";
    case Ending::kExec:
      return "exec";
    case Ending::kCutShort:
      return "cut_short";
    case Ending::kDetach:
      return "detach";
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
  return {{"limit", Figure(l.limit)},
          {"usage", Figure(l.usage)},
          {"high", Figure(l.high)},
          {"swap_limit", Figure(l.swap_limit)},
          {"swap_usage", Figure(l.swap_usage)},
          {"events_max", Figure(l.events_max)},
          {"events_oom", Figure(l.events_oom)},
          {"events_oom_kill", Figure(l.events_oom_kill)}};
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
          {"vm_size_kb", Figure(r.vm_size_kb)},
          {"vm_data_kb", Figure(r.vm_data_kb)},
          {"vm_lck_kb", Figure(r.vm_lck_kb)},
          {"vm_rss_kb", Figure(r.vm_rss_kb)},
          {"threads", Figure(r.threads)},
          {"cap_eff", Figure(r.cap_eff)},
          {"map_count", Figure(r.map_count)},
          {"largest_gap_bytes", Figure(r.largest_gap_bytes)},
          {"max_map_count", Figure(r.max_map_count)},
          {"overcommit_memory", Figure(r.overcommit_memory)},
          {"overcommit_ratio", Figure(r.overcommit_ratio)},
          {"overcommit_kbytes", Figure(r.overcommit_kbytes)},
          {"admin_reserve_kb", Figure(r.admin_reserve_kb)},
          {"user_reserve_kb", Figure(r.user_reserve_kb)},
          {"mem_total_kb", Figure(r.mem_total_kb)},
          {"mem_available_kb", Figure(r.mem_available_kb)},
          {"swap_total_kb", Figure(r.swap_total_kb)},
          {"swap_free_kb", Figure(r.swap_free_kb)},
          {"commit_limit_kb", Figure(r.commit_limit_kb)},
          {"committed_as_kb", Figure(r.committed_as_kb)},
          {"huge_page_kb", Figure(r.huge_page_kb)},
          {"huge_total", Figure(r.huge_total)},
          {"huge_free", Figure(r.huge_free)},
          {"huge_rsvd", Figure(r.huge_rsvd)},
          {"huge_surplus", Figure(r.huge_surplus)},
          {"huge_overcommit", Figure(r.huge_overcommit)},
          {"vmstat_oom_kill", Figure(r.vmstat_oom_kill)},
          {"cgroup",
           {{"version", r.cgroup_version},
            {"flags", r.cgroup_flags},
            {"path", h.cgroup_path},
            {"headroom", Figure(r.cgroup_headroom)},
            {"effective_limit", Figure(r.cgroup_effective_limit)},
            {"binding_level",
             r.cgroup_binding_level == UINT32_MAX ? json(nullptr) : json(r.cgroup_binding_level)},
            {"total_levels", r.cgroup_total_levels},
            {"levels", levels}}},
          {"psi",
           {{"some_avg10_x100", Figure(r.psi_some_avg10_x100)},
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
    out.push_back({{"time_ns", c.time_ns},
                   {"old_sample_bytes", c.old_sample_bytes},
                   {"new_sample_bytes", c.new_sample_bytes},
                   {"write_ns", c.write_ns},
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
  json leaks = json::array();
  for (const Leak& l : r.leaks) leaks.push_back(LeakJson(l));
  json growth_sites = json::array();
  for (const SiteGrowth& g : r.growth) {
    json j = SiteJson(g.site);
    j["fit"] = FitJson(g.fit);
    j["sustained"] = g.sustained;
    j["released"] = ReleasedJson(m, g.released);
    j["fit_from_s"] = Seconds(m.series_times_ns[g.fit_from]);
    j["series"] = Series(m.series_times_ns, g.series);
    growth_sites.push_back(std::move(j));
  }
  json growth = {{"min_rise_bytes", MinimumRise(m)},
                 {"min_points", kMinGrowthPoints},
                 {"min_r2", kMinGrowthR2},
                 {"min_listed_r2", kMinListedR2},
                 {"total",
                  {{"fit", FitJson(r.total_fit)},
                   {"recent_fit", FitJson(r.recent_fit)},
                   {"released", ReleasedJson(m, r.total_released)},
                   {"series", Series(m.series_times_ns, m.series_total_live)}}},
                 {"sites", growth_sites},
                 {"sites_total", r.growth_sites_total}};
  json limit = nullptr;
  if (r.limit) {
    const LimitProjection& p = *r.limit;
    limit = {{"source", p.limit.source},
             {"measure", p.limit.measure},
             {"limit_bytes", p.limit.limit_bytes},
             {"used_bytes", p.limit.used_bytes},
             {"used_time_ns", p.limit.used_time_ns},
             {"headroom_bytes", Num(p.headroom_bytes)},
             {"rate_bytes_per_s", p.rate_bytes_per_s}};
    limit["seconds_to_limit"] = p.seconds ? json(*p.seconds) : json(nullptr);
  }
  json stacks = json::array();
  for (const StackEntry& e : r.stacks) {
    // Flame graphs of what is live: stacks that held nothing at the end or at the peak add
    // only size (their allocation figures are in the site lists and in the pprof output).
    double live = e.figures.live_bytes + e.figures.mapped_live_bytes;
    double peak = e.at_peak.live_bytes + e.at_peak.mapped_live_bytes;
    if (live < 0.5 && peak < 0.5) continue;
    stacks.push_back({{"id", e.id.value},
                      {"at_exit", FiguresJson(e.figures)},
                      {"at_peak", FiguresJson(e.at_peak)},
                      {"frames", Frames(e.frames)}});
  }
  json suppressed_patterns = json::array();
  for (const auto& [pattern, n] : r.suppressed.patterns) {
    suppressed_patterns.push_back({{"pattern", pattern}, {"stacks", n}});
  }
  json filters = {{"since_ns", m.options.since_ns}};
  filters["until_ns"] = m.options.until_ns == UINT64_MAX ? json(nullptr) : json(m.options.until_ns);
  filters["tid"] = m.options.tid ? json(*m.options.tid) : json(nullptr);
  json modules = json::array();
  for (const ModuleInfo& mod : m.modules) {
    modules.push_back({{"path", mod.path},
                       {"build_id", mod.build_id},
                       {"start", mod.start},
                       {"end", mod.end},
                       {"load_bias", mod.load_bias}});
  }
  json threads = json::array();
  for (const auto& [tid, name] : m.threads) threads.push_back({{"tid", tid}, {"name", name}});
  return {
      {"recording", m.path},
      {"process",
       {{"pid", m.pid},
        {"ppid", m.ppid},
        {"exe", m.exe},
        {"argv", m.argv},
        {"forked", m.fork_child},
        {"attached", m.attached},
        {"session", m.session_id},
        {"kernel", m.kernel},
        {"start_realtime_ns", m.start_realtime_ns},
        {"threads", threads},
        {"modules", modules}}},
      {"still_running", r.still_running},
      {"filters", filters},
      {"mode", {{"exact", m.exact}, {"sample_bytes", m.sample_bytes}}},
      {"end",
       {{"how", EndingName(m.ending)},
        {"exit_status", m.exit_status},
        {"exec", m.exec_path},
        {"duration_ns", m.duration_ns},
        {"lost_events", m.lost_events},
        {"recovered",
         {{"merged", m.recovered.merged},
          {"writer_bytes", m.recovered.writer_bytes},
          {"events", m.recovered.events},
          {"batches", m.recovered.batches},
          {"duplicates", m.recovered.duplicates},
          {"torn_bytes", m.recovered.torn_bytes}}},
        {"truncated", m.truncated_tail},
        {"recorded_windows",
         [&] {
           json w = json::array();
           for (const auto& [from, to] : m.RecordedWindows()) {
             w.push_back({Seconds(from), Seconds(to)});
           }
           return w;
         }()},
        {"controls",
         [&] {
           json c = json::array();
           static constexpr const char* kNames[] = {"start_paused", "start", "stop", "snapshot"};
           for (const ProcessModel::Control& x : m.controls) {
             c.push_back({{"time_s", Seconds(x.time_ns)},
                          {"command", x.command < 4 ? kNames[x.command] : "unknown"},
                          {"recording", x.recording}});
           }
           return c;
         }()},
        {"unknown_frees", m.unknown_frees},
        {"stopped_at_until", m.stopped_at_until}}},
      {"totals",
       {{"alloc_count", Num(t.alloc_count)},
        {"alloc_bytes", Num(t.alloc_bytes)},
        {"live_count", Num(t.live_count)},
        {"live_bytes", Num(t.live_bytes)},
        {"mmap_calls", t.mmap_calls},
        {"mapped_bytes", Num(t.mapped_bytes)},
        {"mapped_live_bytes", Num(t.mapped_live_bytes)},
        {"reserved_live_bytes", Num(t.reserved_live_bytes)},
        {"discarded_live_bytes", Num(t.discarded_live_bytes)},
        {"failures", m.failures_total},
        {"temporary_count", t.temporary_count},
        {"bounds95",
         {{"alloc_bytes", Bound(t.alloc_bytes_var)},
          {"live_bytes", Bound(t.live_bytes_var)},
          {"live_count", Bound(t.live_count_var)}}}}},
      {"peak",
       {{"live_bytes", Num(m.peak_live_bytes)},
        {"time_ns", m.peak_time_ns},
        {"rss_bytes", r.peak_rss_bytes},
        {"rss_time_ns", r.peak_rss_time_ns},
        {"rss_from_high_water_mark", r.peak_rss_from_hwm},
        {"sites", SiteArray(r.peak)}}},
      {"leaks", leaks},
      {"leak_sites_total", r.leak_sites_total},
      {"early_window_ns", r.early_window_ns},
      {"growth", growth},
      {"limit", limit},
      {"temporaries", SiteArray(r.temporaries)},
      {"stacks", stacks},
      {"suppressed",
       {{"stacks", r.suppressed.stacks},
        {"live_bytes", Num(r.suppressed.live_bytes)},
        {"alloc_bytes", Num(r.suppressed.alloc_bytes)},
        {"patterns", suppressed_patterns}}},
      {"mappings", SiteArray(r.mappings)},
      {"reserved", SiteArray(r.reserved)},
      {"memory", MemoryJson(r.memory)},
      {"allocators", SiteArray(r.allocators)},
      {"failures", failures},
      {"snapshots", snapshots},
      {"headroom_snapshots", headrooms},
      {"brinks",
       [&] {
         json brinks = json::array();
         for (const BrinkReport& br : r.brinks) {
           const format::BrinkRecord& b = br.brink->record;
           static constexpr const char* kKinds[] = {"unknown", "cgroup", "commit", "address_space"};
           json reclaimable = nullptr;
           if (b.reclaimable_bytes != format::kHeadroomUnknown) {
             reclaimable = b.reclaimable_bytes;
           }
           brinks.push_back({{"time_ns", b.time_ns},
                             {"limit", kKinds[b.kind < 4 ? b.kind : 0]},
                             {"percent", b.percent},
                             {"limit_bytes", b.limit_bytes},
                             {"headroom_bytes", b.headroom_bytes},
                             {"reclaimable_bytes", reclaimable},
                             {"rss_bytes", b.rss_bytes},
                             {"vm_size_bytes", b.vm_size_bytes},
                             {"heap_in_use_bytes", b.heap_in_use_bytes},
                             {"mmap_live_bytes", b.mmap_live_bytes},
                             {"live_bytes", Num(br.brink->live_bytes)},
                             {"sites_total", br.sites_total},
                             {"sites", SiteArray(br.sites)}});
         }
         return brinks;
       }()},
      {"growth_before_end",
       {{"since_ns", m.growth_since_ns}, {"sites", SiteArray(r.growth_before_end)}}},
      {"series_times_s",
       [&] {
         json times = json::array();
         for (uint64_t ns : m.series_times_ns) times.push_back(Seconds(ns));
         return times;
       }()},
      {"warnings", r.warnings},
      {"period_changes", PeriodChangesJson(m)}};
}

json RenderJsonDocument(const std::vector<ProcessReport>& reports, const CombinedReport* combined) {
  json processes = json::array();
  for (const ProcessReport& r : reports) processes.push_back(RenderJson(r));
  json doc = {{"schema", "allocwatch.report"}, {"version", kJsonVersion}, {"processes", processes}};
  if (combined != nullptr) {
    const SiteFigures& t = combined->totals;
    doc["combined"] = {{"processes", combined->processes},
                       {"exact", combined->exact},
                       {"totals",
                        {{"alloc_count", Num(t.alloc_count)},
                         {"alloc_bytes", Num(t.alloc_bytes)},
                         {"live_count", Num(t.live_count)},
                         {"live_bytes", Num(t.live_bytes)},
                         {"mapped_live_bytes", Num(t.mapped_live_bytes)},
                         {"reserved_live_bytes", Num(t.reserved_live_bytes)},
                         {"discarded_live_bytes", Num(t.discarded_live_bytes)},
                         {"failures", combined->failures}}},
                       {"peak_sum_bytes", Num(combined->peak_sum)},
                       {"peak_rss_sum_bytes", combined->peak_rss_sum},
                       {"leaks", SiteArray(combined->leaks)},
                       {"leak_sites_total", combined->leak_sites_total}};
  }
  return doc;
}

}  // namespace allocwatch::report
