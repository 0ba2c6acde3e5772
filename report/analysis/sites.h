// report/analysis/sites.h: symbolized stacks grouped into call sites.
//
// Offline. Not thread-safe (stacks are symbolized through a StackSymbolizer). A call site is, by
// default, the first frame outside the C and C++ runtime (libc, libstdc++, libgcc, the loader,
// std:: and operator new internals: DisplayFrame::runtime), so that a leak through std::vector
// is reported where the program called into the vector.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "report/replay/model.h"
#include "report/symbols/stack_symbolizer.h"

namespace allocwatch::report {

enum class Grouping { kFirstOutsideRuntime, kAllocatingFunction, kFullStack };

struct Site {
  std::string key;
  std::vector<DisplayFrame> frames;  // of the heaviest stack in the group, innermost first
  size_t site_frame = 0;             // index into frames of the frame that names the site
  SiteFigures figures;
  size_t stack_count = 0;
  std::vector<StackId> stacks;  // the stacks grouped here
};

// Groups per-stack figures into sites, in stack id order. The frames shown for a site are those
// of its heaviest stack (live + allocated + mapped bytes).
std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping);

}  // namespace allocwatch::report
