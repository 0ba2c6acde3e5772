// tests/durability/child_process.cc: see child_process.h.
#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace allocwatch::durability_test {
namespace {

std::vector<char*> ArgvPointers(std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (std::string& a : argv) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void ExecOrDie(std::vector<std::string> argv) {
  std::vector<char*> pointers = ArgvPointers(argv);
  execv(pointers[0], pointers.data());
  std::string msg = "cannot run " + argv[0] + ": " + std::strerror(errno) + "\n";
  ssize_t ignored = write(STDERR_FILENO, msg.data(), msg.size());
  (void)ignored;
  _exit(127);
}

void StdinFromDevNull() {
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
}

// Reads from `fds` into `outs` until both reach end of file or `deadline_ns` passes.
bool DrainUntil(int fds[2], std::string* outs[2], int64_t deadline_ns) {
  int open_count = 2;
  while (open_count > 0) {
    int64_t left_ms = (deadline_ns - NowNs()) / 1000000;
    if (left_ms <= 0) return false;
    pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    int n = poll(p, 2, static_cast<int>(left_ms));
    if (n < 0 && errno != EINTR) return false;
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (fds[i] < 0 || p[i].revents == 0) continue;
      char buf[65536];
      ssize_t got = read(fds[i], buf, sizeof(buf));
      if (got > 0) {
        outs[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i]);
        fds[i] = -1;
        --open_count;
      }
    }
  }
  return true;
}

}  // namespace

int64_t NowNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

bool Captured::Succeeded() const {
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string Captured::Describe() const {
  std::string s = timed_out ? "timed out" : DescribeStatus(status);
  if (!err.empty()) s += "; stderr:\n" + err;
  return s;
}

std::string DescribeStatus(int status) {
  if (status < 0) return "not reaped";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "wait status " + std::to_string(status);
}

Captured RunCapturing(const std::vector<std::string>& argv, int timeout_ms) {
  Captured result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    StdinFromDevNull();
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    setpgid(0, 0);
    ExecOrDie(argv);
  }
  if (pid > 0) setpgid(pid, pid);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  int fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* outs[2] = {&result.out, &result.err};
  bool drained = DrainUntil(fds, outs, NowNs() + int64_t{timeout_ms} * 1000000);
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  // Whatever is left of the time, at least a second, for the program to be reaped.
  result.status = WaitOrKillGroup(pid, drained ? 1000 + timeout_ms : 0, &result.timed_out);
  return result;
}

Started StartInGroup(const std::vector<std::string>& argv, int log_fd,
                     const std::string& output_file) {
  Started started;
  int out_fd = open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) {
    started.error = output_file + ": " + std::strerror(errno);
    return started;
  }
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    StdinFromDevNull();
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    if (log_fd != 3) {
      dup2(log_fd, 3);  // clears close-on-exec
    } else {
      fcntl(3, F_SETFD, 0);
    }
    ExecOrDie(argv);
  }
  close(out_fd);
  if (pid < 0) {
    started.error = std::string("fork: ") + std::strerror(errno);
    return started;
  }
  setpgid(pid, pid);  // also here, so the group exists before anything is sent to it
  started.pid = pid;
  return started;
}

int WaitOrKillGroup(pid_t pid, int timeout_ms, bool* timed_out) {
  int64_t deadline = NowNs() + int64_t{timeout_ms} * 1000000;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (NowNs() >= deadline) break;
    timespec t{0, 5 * 1000 * 1000};
    nanosleep(&t, nullptr);
  }
  *timed_out = true;
  kill(-pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return -1;
}

}  // namespace allocwatch::durability_test
