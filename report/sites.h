// report/sites.h: symbolized stacks and their grouping into call sites.
//
// Offline. Not thread-safe. A call site is, by default, the first frame outside the C and C++
// runtime (libc, libstdc++, libgcc, the loader, std:: and operator new internals), so that a
// leak through std::vector is reported where the program called into the vector.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "report/model.h"
#include "symbolize/symbolizer.h"

namespace allocwatch::report {

struct DisplayFrame {
  std::string function;  // empty when unknown
  std::string file;
  int line = 0;
  bool inlined = false;
  std::string module;    // path of the module, empty when none covered the address
  uint64_t address = 0;  // runtime return address
  uint64_t module_offset = 0;
  bool runtime = false;  // in the C/C++ runtime (skipped when choosing the site)
};

// Symbolizes stacks of one process, each distinct address once.
class StackSymbolizer {
 public:
  StackSymbolizer(symbolize::Options options, bool enabled);
  ~StackSymbolizer();
  std::vector<DisplayFrame> Frames(const ProcessModel& model, StackId stack);
  std::vector<std::string> Warnings() const;

 private:
  std::unique_ptr<symbolize::Symbolizer> symbolizer_;
};

enum class Grouping { kFirstOutsideRuntime, kAllocatingFunction, kFullStack };

struct Site {
  std::string key;
  std::vector<DisplayFrame> frames;  // of the heaviest stack in the group, innermost first
  size_t site_frame = 0;             // index into frames of the frame that names the site
  SiteFigures figures;
  size_t stack_count = 0;
  std::vector<StackId> stacks;       // the stacks grouped here
};

// Groups per-stack figures into sites. `weight` ranks stacks within a site to choose the one
// shown.
std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping);

// "function (file:line)" or "module+0xoffset" or "0xaddress".
std::string DescribeFrame(const DisplayFrame& frame);

}  // namespace allocwatch::report
