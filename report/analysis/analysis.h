// report/analysis/analysis.h: what a report says about one process, independent of its format.
//
// Offline. Not thread-safe. Functions of a ProcessModel, which they only read, and of the
// frames of its stacks, which come from the StackSymbolizer given: it opens ELF and debug files
// the first time it meets a module (report/symbols/stack_symbolizer.h). BuildReport also calls
// the LimitSources of ReportOptions::limits (LiveCgroupLimit reads /proc and cgroupfs).
// Nothing else reads a file; the same model, symbols and limits give the same report.
// BuildCombined, EarlyWindowNs, Bound and LeakKindName are pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/analysis/diagnosis.h"
#include "report/analysis/growth.h"
#include "report/analysis/memory.h"
#include "report/analysis/sites.h"
#include "report/analysis/suppressions.h"
#include "report/replay/model.h"

namespace allocwatch::report {

struct ReportOptions {
  size_t top = 10;
  Grouping grouping = Grouping::kFirstOutsideRuntime;
  const Suppressions* suppressions = nullptr;  // stacks matching these are left out
  std::vector<LimitSource> limits;             // tried in order for the limit projection
  bool stacks = false;                         // fill ProcessReport::stacks (flame graphs)
};

// 95% bounds: half-width of the normal interval around an estimate with variance `var`.
inline constexpr double kBoundZ = 1.96;
double Bound(double variance);

enum class LeakKind {
  kGrowing,     // the site's live bytes grew steadily until the end (see IsSustainedGrowth)
                // or until its release at the end left some of it live (FindReleasedGrowth)
  kSinceStart,  // every block still live was allocated in the early window, and no growth
  kOther,
};
const char* LeakKindName(LeakKind kind);  // "growing", "since_start", "other"

struct Leak {
  Site site;
  LeakKind kind = LeakKind::kOther;
  LinearFit fit;           // of the site's live bytes over time
  double bytes_bound = 0;  // 95% half-width of live_bytes (0 in exact mode)
  double count_bound = 0;
};

struct SiteGrowth {
  Site site;
  LinearFit fit;  // of the series; of its rise (ReleasedGrowth::fit) when released
  bool sustained = false;
  std::vector<double> series;  // live bytes at every ProcessModel::series_times_ns
  // Grew steadily for most of the run and was released at its end (FindReleasedGrowth).
  std::optional<ReleasedGrowth> released;
  size_t fit_from = 0;  // the first sample of the fit (RiseStart), unless released
  bool growing() const { return sustained || released.has_value(); }
};

// A stack with its symbolized frames and figures at the end and at the peak.
struct StackEntry {
  StackId id;
  std::vector<DisplayFrame> frames;  // innermost first
  SiteFigures figures;               // over the run, live = at the end
  SiteFigures at_peak;
};

struct SuppressedSummary {
  size_t stacks = 0;
  double live_bytes = 0;
  double alloc_bytes = 0;
  std::vector<std::pair<std::string, size_t>> patterns;  // pattern, stacks matched
};

// Failures of one call from one stack with one errno, counted together.
struct FailureGroup {
  Failure first;
  uint64_t count = 0;
  uint64_t last_time_ns = 0;
  uint64_t min_size = UINT64_MAX;
  uint64_t max_size = 0;
  std::vector<DisplayFrame> frames;
  Diagnosis diagnosis;  // of the first failure of the group (the cause is part of the key)
};

// A limit came close (ProcessModel::brinks): who held the memory then.
struct BrinkReport {
  const Brink* brink = nullptr;
  std::vector<Site> sites;  // heap + mappings live then, by those bytes, --top applied
  size_t sites_total = 0;
};

// "the memory cgroup", "the commit limit", "RLIMIT_AS" (format::kBrink*).
const char* BrinkLimitName(uint32_t kind);

struct ProcessReport {
  const ProcessModel* model = nullptr;
  std::vector<Leak> leaks;       // heap blocks live at the end, by live bytes (every kind)
  std::vector<Site> mappings;    // mappings live at the end, by live (committed) bytes
  std::vector<Site> reserved;    // reserved address space (PROT_NONE) at the end, by its bytes
  std::vector<Site> allocators;  // by bytes allocated over the run
  std::vector<Site> peak;        // heap + mappings live at the peak
  std::vector<FailureGroup> failures;
  size_t leak_sites_total = 0;  // before --top
  size_t allocator_sites_total = 0;
  uint64_t peak_rss_bytes = 0;    // from snapshots and brinks, or the kernel's high-water mark
  uint64_t peak_rss_time_ns = 0;  // when measured; the first snapshot that saw the mark, if so
  // The peak is the kernel's high-water mark (VmHWM): a tenth and 1 MiB or more above any RSS
  // measured at a snapshot or brink (a peak between two snapshots, a run shorter than the
  // interval).
  bool peak_rss_from_hwm = false;
  // Cut short: live bytes gained per site since model->growth_since_ns, largest first.
  std::vector<Site> growth_before_end;
  std::vector<BrinkReport> brinks;  // in time order
  std::vector<std::string> warnings;

  uint64_t early_window_ns = 0;    // "since the start": allocated before this time
  std::vector<SiteGrowth> growth;  // sites with a rising fit, by slope
  size_t growth_sites_total = 0;   // before --top
  LinearFit total_fit;             // of the recorded live total (ProcessModel::series_total_live)
  LinearFit recent_fit;            // the same over the last quarter of the samples
  std::optional<ReleasedGrowth> total_released;  // the live total grew, then was released
  std::optional<LimitProjection> limit;
  std::vector<Site> temporaries;  // exact mode: by temporary_count
  size_t temporary_sites_total = 0;
  std::vector<StackEntry> stacks;  // when ReportOptions::stacks
  std::vector<Site> live_sites;    // every site live at the end, by live bytes (no --top)
  SuppressedSummary suppressed;
  MemoryReport memory;         // where the resident memory went (version 4 recordings)
  bool still_running = false;  // set by the caller (the process was seen alive)
};

// Several processes together: totals added up, live sites merged by site key.
struct CombinedReport {
  size_t processes = 0;
  SiteFigures totals;
  double peak_sum = 0;  // sum of the processes' own peaks (they need not coincide)
  uint64_t peak_rss_sum = 0;
  size_t failures = 0;
  bool exact = true;        // every process in exact mode
  std::vector<Site> leaks;  // merged by key, by live bytes, --top applied
  size_t leak_sites_total = 0;
};
CombinedReport BuildCombined(const std::vector<ProcessReport>& reports, size_t top);

// Early window of a model: the first 10% of the data's time span, at most 5 s.
uint64_t EarlyWindowNs(const ProcessModel& model);

ProcessReport BuildReport(const ProcessModel& model, StackSymbolizer& symbols,
                          const ReportOptions& options);

}  // namespace allocwatch::report
