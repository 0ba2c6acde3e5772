// tools/oom_evidence.h: evidence that the kernel's OOM killer ended a process.
//
// Offline (the allocwatch command). The counters are read before a run and after it; only a
// counter that moved, or a kernel log line naming the process, counts as evidence. A SIGKILL
// alone does not: anyone can send one (systemd-oomd and earlyoom do so without the kernel).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace allocwatch::tools {

struct OomCounters {
  uint64_t vmstat_oom_kill = UINT64_MAX;  // /proc/vmstat oom_kill (system-wide)
  uint64_t cgroup_oom_kill = UINT64_MAX;  // v2 memory.events / v1 memory.oom_control oom_kill
  std::string cgroup;                     // "v1 /path" or "v2 /path", empty when none
};

// Reads the counters for the calling process's memory cgroup, every path under `root`.
OomCounters ReadOomCounters(const std::string& root = "");

// Kernel log lines about OOM kills ("invoked oom-killer", "oom-kill:", "Killed process"),
// from /dev/kmsg; empty, with *readable false, when the log cannot be read (dmesg_restrict,
// containers). When pid > 0, only the lines naming that pid.
std::vector<std::string> KernelOomLines(pid_t pid, bool* readable);

struct OomVerdict {
  bool oom_killed = false;
  std::string summary;                // one sentence for the report
  std::vector<std::string> evidence;  // each counter that moved, each log line
};

// How a child with wait status `status` ended, from the counters before and after it.
OomVerdict JudgeEnding(int status, pid_t pid, const OomCounters& before, const OomCounters& after);

}  // namespace allocwatch::tools
