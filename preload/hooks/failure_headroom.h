// preload/hooks/failure_headroom.h: failure records and the headroom snapshot that goes with
// each of them.
//
// Hook-safe (see base/headroom.h): no allocation, and the only lock taken is the record
// writer's, for the one Append. Thread-safe.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/format/record_format.h"
#include "preload/procfs/headroom.h"

namespace allocwatch::preload {

// Appends `failure` and, right after it, a HeadroomRecord taken now (with the /proc/self/maps
// scan), as one unit, flushed to the file before returning.
void AppendFailureWithHeadroom(const format::FailureRecord& failure);

// Appends a HeadroomRecord without the maps scan (flag kHeadroomFlagPeriodic), not flushed;
// written with the periodic snapshots (at most one per 100 ms) so a report can show the
// headroom trend.
// Its reading of the limits also refreshes the brink watch's (brink.h). `taken`: a snapshot
// taken just before, to write instead of taking one more.
void AppendPeriodicHeadroom(uint64_t now_ns, HeadroomSnapshot* taken = nullptr);

// Appends `brink` (complete) and a HeadroomRecord taken now (flag kHeadroomFlagBrink, without
// the maps scan) as one unit, flushed to the file before returning.
void AppendBrinkWithHeadroom(const format::BrinkRecord& brink);

}  // namespace allocwatch::preload
