// tools/ctl_command.cc: `allocwatch ctl PID start|stop|snapshot`: turns recording of a running,
// recorded process on or off, or has it write a snapshot now, through the control block of
// its tail file (preload/format/tail_format.h, TailControl). The process carries a command out
// at its next recorded call or timer tick; ctl waits for it (--timeout).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "preload/format/tail_format.h"
#include "report/analysis/number_format.h"
#include "report/reader/tail_merge.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/process_maps.h"

namespace allocwatch::tools {
namespace {

// The process's tail file, found among its mappings: the mapped range (to open it through
// /proc/PID/map_files, which reaches a file in another mount namespace, a container's) and
// its path. Empty when the process maps none.
struct TailMapping {
  std::string range;
  std::string path;
};

TailMapping FindTail(int pid) {
  for (const MappedFile& f : MappedFiles(pid)) {
    // A removed tail: its process has finished recording.
    if (f.deleted || report::RecordingPathForTail(f.path).empty()) continue;
    // The header page is the mapping at offset 0; the first one found is it.
    return TailMapping{f.range, f.path};
  }
  return {};
}

int OpenTail(int pid, const TailMapping& t) {
  int fd =
      open(("/proc/" + std::to_string(pid) + "/map_files/" + t.range).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) fd = open(t.path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  return fd;
}

uint32_t CommandOf(const std::string& word) {
  if (word == "start") return format::kControlStart;
  if (word == "stop") return format::kControlStop;
  if (word == "snapshot") return format::kControlSnapshot;
  if (word == "detach") return format::kControlDetach;
  return 0;
}

}  // namespace

std::string RecordingOfProcess(int pid) {
  TailMapping t = FindTail(pid);
  return t.path.empty() ? std::string() : report::RecordingPathForTail(t.path);
}

int RunCtl(const CtlCommandOptions& o) {
  const uint32_t command = CommandOf(o.command);
  if (command == 0) {
    spdlog::error("unknown command '{}': want start, stop, snapshot or detach", o.command);
    return 2;
  }
  struct stat st {};
  if (stat(("/proc/" + std::to_string(o.pid)).c_str(), &st) != 0) {
    spdlog::error("{}: no such process", o.pid);
    return 1;
  }
  TailMapping t = FindTail(o.pid);
  if (t.path.empty()) {
    spdlog::error(
        "process {} is not being recorded by allocwatch (no .awtail file among its mappings in "
        "/proc/{}/maps; or they cannot be read: run as its user or root)",
        o.pid, o.pid);
    return 1;
  }
  int fd = OpenTail(o.pid, t);
  if (fd < 0) {
    spdlog::error("{}: cannot open it: {}", t.path, std::strerror(errno));
    return 1;
  }
  void* p = mmap(nullptr, format::kTailHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    spdlog::error("{}: cannot map it: {}", t.path, std::strerror(errno));
    close(fd);
    return 1;
  }
  auto* header = static_cast<format::TailHeader*>(p);
  auto* c =
      reinterpret_cast<format::TailControl*>(static_cast<char*>(p) + format::kTailControlOffset);
  int rc = 0;
  if (std::memcmp(header->magic, format::kTailMagic, sizeof(header->magic)) != 0 ||
      std::memcmp(c->magic, format::kControlMagic, sizeof(c->magic)) != 0) {
    spdlog::error(
        "{}: no control block (not an allocwatch tail file, or one of an allocwatch "
        "too old for ctl)",
        t.path);
    rc = 1;
  } else {
    flock(fd, LOCK_EX);  // one ctl at a time per process
    const bool was_recording = __atomic_load_n(&c->recording, __ATOMIC_ACQUIRE) != 0;
    uint32_t seq = __atomic_load_n(&c->request_seq, __ATOMIC_ACQUIRE) + 1;
    c->command = command;
    __atomic_store_n(&c->request_seq, seq, __ATOMIC_RELEASE);
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_seconds);
    bool done = false;
    while (!(done = __atomic_load_n(&c->done_seq, __ATOMIC_ACQUIRE) == seq) &&
           std::chrono::steady_clock::now() < deadline && kill(o.pid, 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    flock(fd, LOCK_UN);
    if (!done) {
      std::cerr << "allocwatch ctl: asked process " << o.pid << " to " << o.command
                << "; it has not done so within " << o.timeout_seconds
                << " s. A process carries a command out at its next allocation, or within "
                   "100 ms when it has a thread of its own; it still will.\n";
      rc = 3;
    } else {
      const bool recording = __atomic_load_n(&c->recording, __ATOMIC_ACQUIRE) != 0;
      std::string at = report::FormatSeconds(c->done_time_ns);
      std::cout << "allocwatch ctl: process " << o.pid << ": ";
      if (command == format::kControlDetach) {
        if (c->done_command == format::kControlDetach) {
          std::cout << "detached at " << at << "; the process goes on as before ("
                    << report::RecordingPathForTail(t.path) << ")\n";
        } else {
          std::cout << "it was started with the library (allocwatch run), not attached: "
                       "nothing to detach; allocwatch ctl "
                    << o.pid << " stop stops recording\n";
          rc = 1;
        }
        munmap(p, format::kTailHeaderBytes);
        close(fd);
        return rc;
      }
      if (command == format::kControlSnapshot) {
        std::cout << "snapshot written at " << at << " (recording " << (recording ? "on" : "off")
                  << ")";
      } else if (command == format::kControlStart) {
        std::cout << (was_recording ? "was recording already" : "recording started at " + at);
      } else {
        std::cout << (was_recording ? "recording stopped at " + at : "was stopped already");
      }
      std::cout << " (" << t.path << ")\n";
    }
  }
  munmap(p, format::kTailHeaderBytes);
  close(fd);
  return rc;
}

}  // namespace allocwatch::tools
