// report/analysis/gates.h: the CI gates of `allocwatch run` (--fail-on-leak, --max-peak,
// --fail-on-failed-alloc): whether the reports of a run break a limit, and who did it.
//
// Offline. Pure: functions of the reports given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/analysis/analysis.h"

namespace allocwatch::report {

struct GateLimits {
  std::optional<uint64_t> leak_bytes;  // heap bytes live at the end, all processes together
  std::optional<uint64_t> peak_bytes;  // any one process's peak of heap + committed mappings
  bool failed_alloc = false;           // any failed allocation call
  bool any() const { return leak_bytes || peak_bytes || failed_alloc; }
};

struct GateVerdict {
  std::string gate;     // "--fail-on-leak 1.00 MiB", ...
  bool failed = false;  // the limit was broken beyond sampling noise
  // One line: the figure against the limit; in sampled mode its 4-sigma bounds, and when only
  // the upper bound is over the limit, that the gate passed on the estimate's lower bound.
  std::string summary;
  std::vector<std::string> culprits;  // the sites (or failed calls) that did it, one a line
};

// In exact mode a gate fails when the figure is over its limit. In sampled mode it fails only
// when the estimate less 4 standard deviations is over it: sampling noise alone fails a gate
// less than once in 30,000 runs; a true figure over the limit fails it once it is clear of
// the limit by about 4 standard deviations (sqrt(T x bytes) each, T the sampling period).
std::vector<GateVerdict> CheckGates(const std::vector<ProcessReport>& reports,
                                    const GateLimits& limits);

}  // namespace allocwatch::report
