// tools/attach_command.cc: `allocwatch attach PID`: records a process that is already running.
//
// Borrows one thread of the process at a system call (remote_call.h), calls dlopen there to load
// liballocwatch.so (unless a detach left it loaded) and then allocwatch_attach(settings), which
// opens the recording and routes the program's calls to the wrapped functions through the
// library (preload/hooks/attach.h). Then waits for --duration, Ctrl-C, allocwatch detach or
// the end of the process, detaches (a command through the tail file's control block, carried
// out by the library's own thread) and prints the report.
#include <dlfcn.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "preload/format/environment.h"
#include "report/reader/tail_merge.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/process_maps.h"
#include "tools/recordings.h"
#include "tools/remote_call.h"

namespace allocwatch::tools {
namespace {

namespace fs = std::filesystem;
namespace envvar = format::env;

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop.store(true); }

std::string ProcPath(int pid, const std::string& rest) {
  return "/proc/" + std::to_string(pid) + rest;
}

// One "Name:\tvalue" field of /proc/PID/status; empty when absent.
std::string StatusField(int pid, const std::string& name) {
  std::ifstream in(ProcPath(pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, name.size() + 1, name + ":") == 0) {
      size_t at = line.find_first_not_of(" \t", name.size() + 1);
      return at == std::string::npos ? "" : line.substr(at);
    }
  }
  return {};
}

struct Mappings {
  bool dynamic_loader = false;  // ld-linux: a dynamically linked glibc program
  bool musl = false;
  bool libc = false;
  bool library = false;    // liballocwatch.so is loaded already
  bool recording = false;  // and writes a recording now (a tail file is mapped)
};

Mappings ReadMappings(int pid) {
  Mappings m;
  for (const MappedFile& f : MappedFiles(pid)) {
    std::string name = BaseName(f.path);
    if (name.rfind("ld-linux", 0) == 0) m.dynamic_loader = true;
    if (name.rfind("ld-musl", 0) == 0 || name.rfind("libc.musl", 0) == 0) m.musl = true;
    if (name.rfind("libc.so", 0) == 0) m.libc = true;
    if (name.rfind("liballocwatch", 0) == 0) m.library = true;
    if (!f.deleted && !report::RecordingPathForTail(f.path).empty()) m.recording = true;
  }
  return m;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Whether user `uid` (group `gid`) may create files in the directory, by its mode bits.
bool Writable(const struct stat& st, uid_t uid, gid_t gid) {
  if (uid == 0) return true;
  if (st.st_uid == uid) return (st.st_mode & S_IWUSR) && (st.st_mode & S_IXUSR);
  if (st.st_gid == gid) return (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
  return (st.st_mode & S_IWOTH) && (st.st_mode & S_IXOTH);
}

std::string AttachResultText(int rc) {
  switch (rc) {
    case envvar::kAttachAlreadyRecording:
      return "the process is recorded already (started with allocwatch run or LD_PRELOAD, or "
             "attached): use allocwatch ctl";
    case envvar::kAttachForeignMalloc:
      return "the program's malloc is not the C library's (jemalloc, tcmalloc, mimalloc or its "
             "own): allocwatch attach records glibc's allocator only; start the program with "
             "allocwatch run, which sees the calls to the program's own allocator";
    case envvar::kAttachBadSettings:
      return "the library refused the settings (an output directory path too long?)";
    case envvar::kAttachCannotRecord:
      return "the process could not create its recording file in the output directory";
    case envvar::kAttachNoCalls:
      return "no module of the process calls malloc or mmap through its GOT";
    default:
      return "allocwatch_attach returned " + std::to_string(rc);
  }
}

}  // namespace

int RunAttach(const AttachCommandOptions& o) {
  const int pid = o.pid;
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) {
    spdlog::error("{}: no such process", pid);
    return 1;
  }
  std::ifstream maps_file(ProcPath(pid, "/maps"));
  std::string first_line;
  if (!std::getline(maps_file, first_line) || kill(pid, 0) != 0) {
    spdlog::error("cannot attach to process {}: {}", pid, PtracePermissionHint());
    return 1;
  }
  if (pid == getpid()) {
    spdlog::error("allocwatch cannot attach to itself");
    return 1;
  }
  std::string tracer = StatusField(pid, "TracerPid");
  if (!tracer.empty() && tracer != "0") {
    spdlog::error(
        "process {} is traced already by process {} (a debugger or strace?): detach "
        "it first",
        pid, tracer);
    return 1;
  }
  Mappings maps = ReadMappings(pid);
  if (maps.musl) {
    spdlog::error("process {} uses musl's C library; allocwatch records programs that use glibc",
                  pid);
    return 1;
  }
  if (!maps.dynamic_loader || !maps.libc) {
    spdlog::error(
        "process {} is statically linked (no dynamic loader or C library among its "
        "mappings): no library can be loaded into it",
        pid);
    return 1;
  }
  if (maps.recording) {
    spdlog::error(
        "process {} is being recorded by allocwatch already: allocwatch ctl {} "
        "stop|start|snapshot controls that recording (allocwatch detach {} ends it, when "
        "allocwatch attach began it)",
        pid, pid, pid);
    return 1;
  }

  // The library, as the process sees it.
  std::string library = o.library;
  if (library.empty()) {
    library = FindPreload();
    if (library.empty()) {
      spdlog::error("cannot find liballocwatch.so beside the allocwatch command; give --library");
      return 1;
    }
  }
  const std::string root = ProcPath(pid, "/root");
  const bool same_root = SameFile(root, "/");
  if (!maps.library && !fs::exists(root + library)) {
    spdlog::error(
        "{} is not there for process {} ({}): in a container, copy or bind-mount "
        "liballocwatch.so into its filesystem and give --library with its path there",
        library, pid, same_root ? "no such file" : "its root is another filesystem");
    return 1;
  }
  if (o.library.empty() && !maps.library && !SameFile(root + library, library)) {
    spdlog::error(
        "{} in process {}'s filesystem is another file than allocwatch's: give "
        "--library with the path of an identical copy there",
        library, pid);
    return 1;
  }

  // The output directory, as the process sees it, writable by the process's user.
  std::error_code ec;
  std::string dir = o.output_dir;
  if (same_root) {
    fs::create_directories(dir, ec);
    dir = fs::absolute(dir, ec).lexically_normal().string();
  } else if (dir.empty() || dir[0] != '/') {
    spdlog::error(
        "process {} runs in another filesystem (a container): give -o an absolute "
        "directory as the process sees it",
        pid);
    return 1;
  }
  struct stat dir_stat {};
  if (stat((same_root ? dir : root + dir).c_str(), &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode)) {
    spdlog::error("{}: no such directory{}", dir, same_root ? "" : " in the process's filesystem");
    return 1;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  std::istringstream(StatusField(pid, "Uid")) >> uid >> uid;  // the effective one
  std::istringstream(StatusField(pid, "Gid")) >> gid >> gid;
  if (!Writable(dir_stat, uid, gid)) {
    spdlog::error(
        "process {} runs as user {}, which cannot create files in {}: give -o a "
        "directory it can write (such as /tmp)",
        pid, uid, dir);
    return 1;
  }

  if (StatusField(pid, "State").rfind("T", 0) == 0) {
    std::cerr << "allocwatch attach: process " << pid
              << " is stopped (SIGSTOP or a job-control stop): it is recorded from when it is "
                 "continued, and a detach waits for that too\n";
  }

  std::ostringstream settings;
  settings << envvar::kOutputDir << "=" << dir << "\n";
  uint64_t sample_bytes = o.exact ? 1 : o.sample_bytes.value_or(0);
  if (sample_bytes > 0) settings << envvar::kSampleBytes << "=" << sample_bytes << "\n";
  settings << envvar::kIntervalMs << "="
           << static_cast<uint64_t>(o.interval_seconds * 1000 < 1 ? 1 : o.interval_seconds * 1000)
           << "\n";

  std::string error;
  const uint64_t dlopen_at = maps.library ? 0 : RemoteSymbol(pid, "libc.so.6", "dlopen", &error);
  const uint64_t dlerror_at = RemoteSymbol(pid, "libc.so.6", "dlerror", &error);
  const uint64_t errno_at = RemoteSymbol(pid, "libc.so.6", "__errno_location", &error);
  if ((!maps.library && dlopen_at == 0) || dlerror_at == 0 || errno_at == 0) {
    spdlog::error("process {}: {} (a C library older than glibc 2.34?)", pid, error);
    return 1;
  }

  RemoteThread thread;
  auto timeout = std::chrono::milliseconds(static_cast<long>(o.timeout_seconds * 1000));
  if (!thread.Borrow(pid, timeout, &error)) {
    spdlog::error("{}", error);
    return 1;
  }
  // errno is the thread's, and the calls below may change it: it is put back as it was.
  uint64_t errno_address = 0;
  int saved_errno = 0;
  bool errno_known = thread.Call(errno_at, {}, &errno_address, &error) &&
                     thread.Read(errno_address, &saved_errno, sizeof(saved_errno));
  int rc = -1;
  std::string failure;
  uint64_t handle = 0;
  if (!maps.library) {
    uint64_t path_at = thread.PushString(library);
    if (path_at == 0 ||
        !thread.Call(dlopen_at, {path_at, RTLD_NOW | RTLD_LOCAL}, &handle, &error)) {
      failure = "dlopen in the process failed: " + error;
    } else if (handle == 0) {
      uint64_t message_at = 0;
      char message[512] = {};
      if (thread.Call(dlerror_at, {}, &message_at, &error) && message_at != 0) {
        thread.Read(message_at, message, sizeof(message) - 1);
      }
      failure = std::string("the process could not load the library: ") +
                (message[0] != '\0' ? message : "dlopen returned NULL");
    }
  }
  if (failure.empty()) {
    uint64_t entry = RemoteSymbol(pid, library, envvar::kAttachEntry, &error);
    if (entry == 0) entry = RemoteSymbol(pid, "liballocwatch.so", envvar::kAttachEntry, &error);
    uint64_t settings_at = thread.PushString(settings.str());
    uint64_t result = 0;
    if (entry == 0) {
      failure = error;
    } else if (settings_at == 0 || !thread.Call(entry, {settings_at}, &result, &error)) {
      failure = "the call of allocwatch_attach failed: " + error;
    } else {
      rc = static_cast<int>(result);
      if (rc != envvar::kAttachOk) failure = AttachResultText(rc);
    }
  }
  if (errno_known) thread.Write(errno_address, &saved_errno, sizeof(saved_errno));
  const long syscall_number = thread.syscall_number();
  const pid_t tid = thread.tid();
  thread.Release();
  const double held_ms = static_cast<double>(thread.held().count()) / 1000.0;
  if (!failure.empty()) {
    spdlog::error("attaching to process {} failed: {}{}", pid, failure,
                  handle != 0 ? " (the library stays loaded, doing nothing)" : "");
    return 1;
  }

  std::string recording = RecordingOfProcess(pid);
  std::cerr << "allocwatch attach: recording process " << pid << " (" << StatusField(pid, "Name")
            << ") into " << recording << "\n"
            << "allocwatch attach: thread " << tid << " was held for " << held_ms
            << " ms (at system call " << syscall_number << "); the others ran on\n";
  if (o.no_wait) {
    std::cerr << "allocwatch attach: allocwatch detach " << pid << " ends the recording\n";
    return 0;
  }

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (o.duration_seconds > 0) {
    std::cerr << "allocwatch attach: detaching in " << o.duration_seconds << " s, or at Ctrl-C\n";
  } else {
    std::cerr << "allocwatch attach: Ctrl-C or allocwatch detach " << pid
              << " ends the recording\n";
  }
  const auto until =
      std::chrono::steady_clock::now() +
      std::chrono::duration<double>(o.duration_seconds > 0 ? o.duration_seconds : 1e9);
  bool process_ended = false, detached_elsewhere = false;
  while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (kill(pid, 0) != 0) {
      process_ended = true;
      break;
    }
    if (RecordingOfProcess(pid).empty()) {
      detached_elsewhere = true;
      break;
    }
  }
  int status = 0;
  if (!process_ended && !detached_elsewhere) {
    CtlCommandOptions detach;
    detach.pid = pid;
    detach.command = "detach";
    detach.timeout_seconds = 10;
    status = RunCtl(detach);
  }
  if (o.no_report) return status;
  // /proc/PID/maps names the file as seen from here when it is reachable from here (a chroot),
  // else as seen in the process's own mount namespace (a container).
  std::string readable = recording;
  if (!fs::exists(readable) && !process_ended) readable = root + recording;
  if (!fs::exists(readable)) {
    std::cerr << "allocwatch attach: " << readable << " cannot be read from here\n";
    return status;
  }
  ReportCommandOptions report;
  report.format = o.format;
  report.top = o.top;
  report.colour = isatty(STDOUT_FILENO) == 1 ? "always" : "never";
  int report_rc = RenderRecordings({readable}, report, std::cout);
  return status != 0 ? status : report_rc;
}

}  // namespace allocwatch::tools
