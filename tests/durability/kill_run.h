// tests/durability/kill_run.h: one run of the subject under `allocwatch run`, killed with
// SIGKILL at a chosen instant while its progress lines are read and timed.
//
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "progress_log.h"

namespace allocwatch::durability_test {

struct RunSpec {
  std::string allocwatch;                 // the allocwatch command
  std::string subject;                    // subject.cc's program
  bool exact = false;                     // `allocwatch run --exact`
  std::vector<std::string> subject_args;  // --log-fd 3 is added
  std::string output_dir;                 // `allocwatch run -o`, created empty by the caller
  std::string run_output;                 // where allocwatch run's stdout and stderr go
  std::string interval;                   // `allocwatch run --interval`, when not empty
};

// When to kill: delay_ns after the subject's pid line arrived, or after its first idle line.
struct KillPlan {
  bool after_idle = false;
  int64_t delay_ns = 0;
};

struct KillOutcome {
  ProgressLog log;
  int64_t kill_ns = 0;  // NowNs() just before kill(2); 0: no SIGKILL was sent
  pid_t pid = -1;       // the subject's logged pid
  int run_status = -1;  // allocwatch run's wait status
  // A problem of the run itself (no pid line, the subject ended or stopped logging before the
  // kill, allocwatch run did not end): then there is nothing to check.
  std::string problem;
};

KillOutcome RunAndKill(const RunSpec& spec, const KillPlan& plan);

}  // namespace allocwatch::durability_test
