// tests/durability/recorded_sites.h: what a recording holds for the subject's sites, as
// `allocwatch report --format json` gives it (report/JSON.md).
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace allocwatch::durability_test {

struct RecordedSite {
  uint64_t alloc_count = 0;  // exact in exact mode; in sampled mode estimates, exact for
  uint64_t alloc_bytes = 0;  // blocks of at least the sampling period (weight 1)
  uint64_t samples = 0;      // recorded allocations
};

struct Recorded {
  std::string error;  // the report failed or its document was not as expected
  std::map<std::string, RecordedSite> sites;  // by site function name; absent: none recorded
  bool exact = false;
  uint64_t sample_bytes = 0;
  std::string end_how;  // process.end.how: cut_short for a killed process
  double duration_s = 0;
  size_t snapshots = 0;
  std::vector<std::string> warnings;

  RecordedSite Site(const std::string& name) const;
  // One line: the figures of `names`, the end, the snapshots and the warnings.
  std::string Describe(const std::vector<std::string>& names) const;
};

// Runs `allocwatch report --format json --top 0 --thread TID RECORDING` and adds up, per name
// in site_names, the allocators whose site frame is that function (the name before its
// parameter list).
Recorded ReadRecorded(const std::string& allocwatch, const std::string& recording, long tid,
                      const std::vector<std::string>& site_names);

}  // namespace allocwatch::durability_test
