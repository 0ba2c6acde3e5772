// tests/durability/child_process.h: the clock and the child processes of the SIGKILL tests.
//
// Not thread-safe (the driver is single-threaded: it forks without care for other threads).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace allocwatch::durability_test {

// CLOCK_MONOTONIC, nanoseconds.
int64_t NowNs();

struct Captured {
  int status = -1;  // wait status
  bool timed_out = false;
  std::string out;
  std::string err;

  bool Succeeded() const;
  std::string Describe() const;  // the wait status, and stderr when there is any
};

// Runs argv[0] (a path) with argv, stdin from /dev/null, stdout and stderr captured. After
// timeout_ms it kills the program (SIGKILL) and sets timed_out.
Captured RunCapturing(const std::vector<std::string>& argv, int timeout_ms);

// A child started in a process group of its own, with `log_fd` (the write end of a pipe) as
// its descriptor 3 and stdout and stderr appended to `output_file`.
struct Started {
  pid_t pid = -1;  // also the process group
  std::string error;
};
Started StartInGroup(const std::vector<std::string>& argv, int log_fd,
                     const std::string& output_file);

// Waits for `pid` up to timeout_ms; then kills its process group (SIGKILL) and reaps it.
// Returns the wait status, or -1 when it had to be killed (then *timed_out is set).
int WaitOrKillGroup(pid_t pid, int timeout_ms, bool* timed_out);

// "exited with status N", "killed by signal N (NAME)".
std::string DescribeStatus(int status);

}  // namespace allocwatch::durability_test
