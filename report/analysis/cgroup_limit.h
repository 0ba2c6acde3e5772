// report/analysis/cgroup_limit.h: the memory cgroup limit of a process that is still running, read
// now from /proc and the cgroup file system (v2 memory.max / memory.current, or v1
// memory.limit_in_bytes / memory.usage_in_bytes).
//
// Offline. Only meaningful while the process runs: the caller adds this source for processes
// it found alive. The cgroup is found by preload/procfs/cgroup_reader.h, the reader that
// `allocwatch doctor --pid` and the recorder use (mountinfo, cgroup namespaces, hybrid hosts),
// so the report and doctor never disagree. The tightest level of the hierarchy (least headroom,
// the reader's binding level) wins.
#pragma once

#include <string>

#include "report/analysis/growth.h"

namespace allocwatch::report {

// `root` is prefixed to every path read (/proc/PID/cgroup, /proc/PID/mountinfo and the mount
// points it names): "" for the real file system, a fake tree in tests.
LimitSource LiveCgroupLimit(std::string root = "");

}  // namespace allocwatch::report
