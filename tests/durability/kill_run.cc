// tests/durability/kill_run.cc: see kill_run.h.
#include "kill_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "child_process.h"

namespace allocwatch::durability_test {
namespace {

constexpr int64_t kMsNs = 1000 * 1000;
constexpr int64_t kPidLineTimeoutNs = 10000 * kMsNs;   // from the start of allocwatch run
constexpr int64_t kIdleLineTimeoutNs = 30000 * kMsNs;  // from the pid line
// After the kill: allocwatch run (and in the fork case the parent) must end in this time.
constexpr int64_t kEndTimeoutNs = 60000 * kMsNs;

enum class Read { kData, kTimeout, kEnd, kError };

// Waits for the pipe until deadline_ns (to the microsecond) and feeds what it reads.
Read ReadOnce(int fd, int64_t deadline_ns, ProgressLog* log) {
  int64_t left = deadline_ns - NowNs();
  if (left <= 0) return Read::kTimeout;
  timespec timeout{left / 1000000000, left % 1000000000};
  pollfd p{fd, POLLIN, 0};
  int n = ppoll(&p, 1, &timeout, nullptr);
  if (n < 0) return errno == EINTR ? Read::kData : Read::kError;
  if (n == 0) return Read::kTimeout;
  char buf[65536];
  ssize_t got = read(fd, buf, sizeof(buf));
  if (got < 0) return errno == EINTR ? Read::kData : Read::kError;
  if (got == 0) return Read::kEnd;
  return log->Feed(std::string_view(buf, static_cast<size_t>(got)), NowNs()) ? Read::kData
                                                                             : Read::kError;
}

// The instant to kill at, or (with *limit set) the latest instant to wait for the line it
// depends on.
int64_t KillTarget(const ProgressLog& log, const KillPlan& plan, int64_t started_ns, bool* limit) {
  *limit = true;
  if (!log.pid()) return started_ns + kPidLineTimeoutNs;
  if (!plan.after_idle) {
    *limit = false;
    return log.pid_time_ns() + plan.delay_ns;
  }
  if (!log.idle_time_ns()) return log.pid_time_ns() + kIdleLineTimeoutNs;
  *limit = false;
  return *log.idle_time_ns() + plan.delay_ns;
}

// Reads progress lines until the kill instant, then sends SIGKILL to the logged pid (only
// when it is in allocwatch run's process group). Sets out->problem when it cannot.
void ReadUntilKill(int fd, pid_t group, const KillPlan& plan, int64_t started_ns,
                   KillOutcome* out) {
  for (;;) {
    bool limit = false;
    int64_t target = KillTarget(out->log, plan, started_ns, &limit);
    Read r = ReadOnce(fd, target, &out->log);
    if (r == Read::kError) {
      out->problem = out->log.error().empty() ? std::string("reading the progress pipe failed")
                                              : out->log.error();
      return;
    }
    if (r == Read::kEnd) {
      out->problem = "the subject stopped logging (pipe closed) before the kill";
      return;
    }
    if (out->log.any_finished()) {
      out->problem = "the subject finished its work before the kill instant";
      return;
    }
    if (r != Read::kTimeout) continue;
    if (limit) {
      out->problem = out->log.pid() ? "no idle line in time" : "no pid line in time";
      return;
    }
    out->pid = *out->log.pid();
    if (getpgid(out->pid) != group) {
      out->problem = "the logged pid " + std::to_string(out->pid) +
                     " is not in allocwatch run's process group";
      return;
    }
    out->kill_ns = NowNs();
    kill(out->pid, SIGKILL);
    return;
  }
}

// Reads the lines still in the pipe, until every writer is gone.
bool DrainToEnd(int fd, ProgressLog* log) {
  int64_t deadline = NowNs() + kEndTimeoutNs;
  for (;;) {
    Read r = ReadOnce(fd, deadline, log);
    if (r == Read::kEnd) return true;
    if (r != Read::kData) return false;
  }
}

std::vector<std::string> RunArgv(const RunSpec& spec) {
  std::vector<std::string> argv = {spec.allocwatch, "run"};
  if (spec.exact) argv.push_back("--exact");
  if (!spec.interval.empty()) argv.insert(argv.end(), {"--interval", spec.interval});
  for (const char* a : {"-o", spec.output_dir.c_str(), "--no-report", "--", spec.subject.c_str()})
    argv.emplace_back(a);
  argv.insert(argv.end(), spec.subject_args.begin(), spec.subject_args.end());
  argv.insert(argv.end(), {"--log-fd", "3"});
  return argv;
}

}  // namespace

KillOutcome RunAndKill(const RunSpec& spec, const KillPlan& plan) {
  KillOutcome out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    out.problem = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  int64_t started_ns = NowNs();
  Started run = StartInGroup(RunArgv(spec), fds[1], spec.run_output);
  close(fds[1]);
  if (run.pid < 0) {
    close(fds[0]);
    out.problem = run.error;
    return out;
  }
  ReadUntilKill(fds[0], run.pid, plan, started_ns, &out);
  if (out.problem.empty() && !DrainToEnd(fds[0], &out.log)) {
    out.problem = "allocwatch run did not end within 60 s of the kill (or the pipe failed)";
  }
  close(fds[0]);
  bool timed_out = false;
  out.run_status = WaitOrKillGroup(run.pid, out.problem.empty() ? 10000 : 0, &timed_out);
  if (timed_out && out.problem.empty()) out.problem = "allocwatch run did not end after the kill";
  return out;
}

}  // namespace allocwatch::durability_test
