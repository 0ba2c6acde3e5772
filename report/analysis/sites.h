// report/analysis/sites.h: symbolized stacks grouped into call sites.
//
// Offline. Not thread-safe (stacks are symbolized through a StackSymbolizer). A call site is, by
// default, the first frame outside the C and C++ runtime (libc, libstdc++, libgcc, the loader,
// std:: and operator new internals: DisplayFrame::runtime), so that a leak through std::vector
// is reported where the program called into the vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_set.h"
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

// The site of each stack as GroupSites names it, kept between the calls that group several
// sets of figures of one model with one symbolizer and grouping (a report's live sites, those
// at the peak, at each brink...): each stack's frames through its site are built, and its site
// named, once.
struct SiteKeys {
  struct Entry {
    const std::string* name = nullptr;  // in names
    uint32_t site_frame = 0;
  };
  absl::flat_hash_map<StackId, Entry> of;
  absl::node_hash_set<std::string> names;  // a node set: each name stays where it is
};

// Groups per-stack figures into sites, in stack id order. The frames shown for a site are those
// of its heaviest stack (live + allocated + mapped bytes). `keys`, when given, must have been
// filled only by calls for the same model, symbolizer and grouping.
std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping, SiteKeys* keys = nullptr);

}  // namespace allocwatch::report
