// report/analysis/cgroup_limit.h: the memory cgroup limit of a process that is still running, read
// now from /proc and the cgroup file system (v2 memory.max / memory.current, or v1
// memory.limit_in_bytes / memory.usage_in_bytes).
//
// Offline. Only meaningful while the process runs: the caller adds this source for processes
// it found alive. The tightest level of the hierarchy (least headroom) wins.
#pragma once

#include <string>

#include "report/analysis/growth.h"

namespace allocwatch::report {

// `proc_root` and `cgroup_root` are "/proc" and "/sys/fs/cgroup" but for tests.
LimitSource LiveCgroupLimit(std::string proc_root = "/proc",
                            std::string cgroup_root = "/sys/fs/cgroup");

}  // namespace allocwatch::report
