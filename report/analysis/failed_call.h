// report/analysis/failed_call.h: what a failed call asked for and how it failed, in the words of a
// report: the size of its request and the name of its errno.
//
// Offline. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "report/replay/model.h"

namespace allocwatch::report {

// Size of a failed call's request (bytes), from its arguments: UINT64_MAX when calloc's or
// reallocarray's product overflows, 0 for free.
uint64_t FailureSize(const Failure& f);

// "ENOMEM", "EINVAL", ... or "errno N" (0 is "no errno").
std::string ErrnoName(int error);

}  // namespace allocwatch::report
