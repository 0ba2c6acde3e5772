// tests/durability/bounds_check.h: what was logged against what was recorded, per site.
//
// For a checked site of one thread the recording must hold at least what the steps logged as
// done by the cutoff (the kill less the 50 ms allowed) and at most what the steps begun before
// the kill could have allocated, in calls and in bytes.
#pragma once

#include <string>
#include <vector>

#include "progress_log.h"
#include "recorded_sites.h"

namespace allocwatch::durability_test {

// The subject's sites (subject.cc).
inline const std::vector<std::string> kAllSites = {"grow_site", "churn_site", "marker_site"};
// Recorded in full in sampled mode too (blocks above the sampling period).
inline const std::vector<std::string> kAlwaysSampledSites = {"marker_site"};

// One text per bound broken by a site of `checked` for thread `tid`; empty when all hold.
std::vector<std::string> CheckThread(long tid, const ThreadLedger& logged, const Recorded& recorded,
                                     const std::vector<std::string>& checked);

// "by the cutoff C calls B bytes, done in all ..., begun ...": what the thread logged.
std::string DescribeLogged(const SiteLedger& site);

}  // namespace allocwatch::durability_test
