// report/analysis/diagnosis.h: why an allocation failed, from the call and its headroom snapshot.
//
// Offline. Pure functions. Each cause is a predicate over the recorded numbers (the kernel and
// glibc checks that return the error); they are evaluated in a fixed order, the first match is
// the cause and every other match is listed too, each with the numbers that decided it.
#pragma once

#include <string>
#include <vector>

#include "report/replay/model.h"

namespace allocwatch::report {

enum class Cause {
  kGlibcPrecheck,        // size > PTRDIFF_MAX, calloc overflow, bad alignment: no system call
  kInvalidArguments,     // the kernel rejected the arguments (EINVAL, EBADF, EFAULT...)
  kMemlock,              // RLIMIT_MEMLOCK with MAP_LOCKED or mlockall(MCL_FUTURE)
  kHugetlb,              // MAP_HUGETLB and too few free huge pages of that size
  kRlimitAs,             // RLIMIT_AS
  kRlimitData,           // RLIMIT_DATA
  kMaxMapCount,          // vm.max_map_count
  kStrictOvercommit,     // overcommit mode 2: the commit limit
  kHeuristicOvercommit,  // overcommit mode 0: one request larger than RAM + swap
  kAddressSpace,         // no free range of the address space is large enough
  kMremapInPlace,        // mremap could not grow in place and MREMAP_MAYMOVE was not given
  kCgroup,               // memory cgroup at its limit
  kUnknown,
};

struct Finding {
  Cause cause = Cause::kUnknown;
  std::string evidence;  // the numbers that decided it
};

struct Diagnosis {
  Finding primary;
  std::vector<Finding> others;  // further predicates that also matched
};

Diagnosis Diagnose(const Failure& failure, uint64_t page_size);

// "rlimit_as", "glibc_precheck", ... (stable names, used in JSON).
const char* CauseName(Cause cause);
// "RLIMIT_AS (address-space limit)", ... for people.
const char* CauseTitle(Cause cause);
// What to change, one short sentence.
const char* CauseRemedy(Cause cause);

// The snapshot's figures in a few lines of text (no trailing newline on the last).
std::vector<std::string> DescribeHeadroom(const Headroom& headroom);

// "unlimited", "unknown" or FormatBytes(v).
std::string LimitText(uint64_t v);

}  // namespace allocwatch::report
