// report/analysis.h: what a report says about one process, independent of its format.
//
// Offline. Pure functions over a ProcessModel.
#pragma once

#include <string>
#include <vector>

#include "report/diagnosis.h"
#include "report/model.h"
#include "report/sites.h"

namespace allocwatch::report {

struct ReportOptions {
  size_t top = 10;
  Grouping grouping = Grouping::kFirstOutsideRuntime;
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

struct ProcessReport {
  const ProcessModel* model = nullptr;
  std::vector<Site> leaks;       // heap blocks live at the end, by live bytes
  std::vector<Site> mappings;    // mappings live at the end, by live bytes
  std::vector<Site> allocators;  // by bytes allocated over the run
  std::vector<Site> peak;        // heap + mappings live at the peak
  std::vector<FailureGroup> failures;
  size_t leak_sites_total = 0;   // before --top
  size_t allocator_sites_total = 0;
  uint64_t peak_rss_bytes = 0;   // from snapshots
  uint64_t peak_rss_time_ns = 0;
  // Cut short: live bytes gained per site since model->growth_since_ns, largest first.
  std::vector<Site> growth;
  std::vector<std::string> warnings;
};

ProcessReport BuildReport(const ProcessModel& model, StackSymbolizer& symbols,
                          const ReportOptions& options);

// Size of a failed call's request (bytes), from its arguments.
uint64_t FailureSize(const Failure& f);

// "ENOMEM", "EINVAL", ... or the number.
std::string ErrnoName(int error);

}  // namespace allocwatch::report
