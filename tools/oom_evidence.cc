// tools/oom_evidence.cc: see oom_evidence.h.
#include "tools/oom_evidence.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "preload/procfs/cgroup_reader.h"
#include "preload/procfs/proc_text.h"

namespace allocwatch::tools {

OomCounters ReadOomCounters(const std::string& root) {
  OomCounters c;
  char buf[16384];
  int error = 0;
  if (preload::ReadRootedFile(root.c_str(), "/proc/vmstat", buf, sizeof(buf), &error) >= 0) {
    c.vmstat_oom_kill = preload::FindKeyValue(buf, "oom_kill");
  }
  auto cg = std::make_unique<preload::CgroupReading>();
  preload::ReadCgroup(root.c_str(), cg.get(), "/proc/self", /*max_levels=*/1);  // the leaf's count
  if (cg->version != format::kCgroupNone && cg->level_count > 0) {
    c.cgroup = std::string(cg->version == format::kCgroupV1 ? "v1 " : "v2 ") + cg->path;
    c.cgroup_oom_kill = cg->levels[0].events_oom_kill;
  }
  return c;
}

std::vector<std::string> KernelOomLines(pid_t pid, bool* readable) {
  std::vector<std::string> lines;
  *readable = false;
  int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return lines;
  *readable = true;
  std::string needle_a = "Killed process " + std::to_string(pid) + " (";
  std::string needle_b = ",pid=" + std::to_string(pid) + ",";
  char record[8192];
  for (;;) {
    ssize_t n = read(fd, record, sizeof(record) - 1);
    if (n < 0 && errno == EPIPE) continue;  // overwritten records: go on with the next
    if (n <= 0) break;
    record[n] = '\0';
    const char* text = std::strchr(record, ';');
    if (text == nullptr) continue;
    std::string line(text + 1);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    bool oom = line.find("invoked oom-killer") != std::string::npos ||
               line.find("oom-kill:") != std::string::npos ||
               line.find("Killed process") != std::string::npos;
    if (!oom) continue;
    if (pid > 0 && line.find(needle_a) == std::string::npos &&
        line.find(needle_b) == std::string::npos) {
      continue;
    }
    lines.push_back(line);
  }
  close(fd);
  return lines;
}

OomVerdict JudgeEnding(int status, pid_t pid, const OomCounters& before, const OomCounters& after) {
  OomVerdict v;
  if (WIFEXITED(status)) {
    v.summary = "exited with status " + std::to_string(WEXITSTATUS(status));
    return v;
  }
  int sig = WTERMSIG(status);
  v.summary = "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  if (sig != SIGKILL) return v;
  bool cgroup_moved = before.cgroup_oom_kill != UINT64_MAX && after.cgroup_oom_kill != UINT64_MAX &&
                      after.cgroup_oom_kill > before.cgroup_oom_kill;
  bool vmstat_moved = before.vmstat_oom_kill != UINT64_MAX && after.vmstat_oom_kill != UINT64_MAX &&
                      after.vmstat_oom_kill > before.vmstat_oom_kill;
  bool readable = false;
  std::vector<std::string> log = KernelOomLines(pid, &readable);
  if (cgroup_moved) {
    v.evidence.push_back("memory cgroup " + after.cgroup + " oom_kill " +
                         std::to_string(before.cgroup_oom_kill) + " -> " +
                         std::to_string(after.cgroup_oom_kill));
  }
  if (vmstat_moved) {
    v.evidence.push_back("/proc/vmstat oom_kill " + std::to_string(before.vmstat_oom_kill) +
                         " -> " + std::to_string(after.vmstat_oom_kill));
  }
  for (const std::string& line : log) v.evidence.push_back("kernel: " + line);
  if (!log.empty() || cgroup_moved) {
    v.oom_killed = true;
    v.summary = "was killed by the OOM killer (SIGKILL)";
  } else if (vmstat_moved) {
    v.oom_killed = true;
    v.summary =
        "was killed by SIGKILL, most likely by the OOM killer (the system-wide counter "
        "moved during the run; another process may have been the victim" +
        std::string(readable ? ")" : "; the kernel log is not readable here)");
  } else {
    v.summary =
        "was killed by SIGKILL, not by the kernel's OOM killer (no OOM-kill counter "
        "moved): another process or a user-space killer such as systemd-oomd sent it";
  }
  return v;
}

}  // namespace allocwatch::tools
