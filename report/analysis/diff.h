// report/analysis/diff.h: `allocwatch diff BASE NEW`: per call site, how live bytes at the end and
// their growth rate changed between two sets of recordings (the same program, two builds or runs).
//
// Offline. A pure function of the reports. Sites are matched by their key (function@file:line
// for symbolized frames, so a site matches across builds as long as its source line is the
// same). The text and JSON forms are in report/render/render.h.
#pragma once

#include <string>
#include <vector>

#include "report/analysis/analysis.h"

namespace allocwatch::report {

struct DiffSide {
  bool present = false;
  double live_bytes = 0;
  double live_count = 0;
  double live_bytes_bound = 0;  // 95%, sampled mode
  double slope = 0;             // bytes per second
  double r2 = 0;
  bool growing = false;  // sustained growth
};

struct DiffEntry {
  std::string key;
  Site site;  // frames from NEW when there, else BASE
  DiffSide base;
  DiffSide next;
  bool started_growing() const { return next.growing && !base.growing; }
  double live_change() const { return next.live_bytes - base.live_bytes; }
  double slope_change() const { return next.slope - base.slope; }
};

struct DiffReport {
  size_t base_processes = 0, next_processes = 0;
  bool exact = true;
  double base_live = 0, next_live = 0;    // live bytes at the end, all processes
  double base_slope = 0, next_slope = 0;  // growth of the live total, summed over processes
  std::vector<DiffEntry> entries;         // sites that started growing first, then by |live change|
  size_t entries_total = 0;               // before --top
};

// `base` and `next` must be built with top = 0 (every site).
DiffReport BuildDiff(const std::vector<ProcessReport>& base, const std::vector<ProcessReport>& next,
                     size_t top);

}  // namespace allocwatch::report
