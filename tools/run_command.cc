// tools/run_command.cc: `allocwatch run -- PROGRAM ARGS...`.
//
// The program runs as allocwatch's child with the preload library in LD_PRELOAD. Its stdin,
// stdout and stderr are allocwatch's own; signals sent to allocwatch by other processes are
// passed on (terminal signals already reach the whole process group); its exit status, or its
// death by a signal, becomes allocwatch's.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "preload/format/environment.h"
#include "report/reader/read_ahead.h"
#include "report/reader/recording_reader.h"
#include "report/replay/model.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/oom_evidence.h"
#include "tools/program_check.h"
#include "tools/recordings.h"

extern char** environ;

namespace allocwatch::tools {
namespace {

namespace fs = std::filesystem;
namespace envvar = format::env;

// NAME=VALUE for the program's environment.
std::string Assignment(const char* name, const std::string& value) {
  return std::string(name) + "=" + value;
}

std::atomic<pid_t> g_child{0};

constexpr int kForwardedSignals[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM, SIGUSR1,
                                     SIGUSR2, SIGALRM, SIGWINCH, SIGCONT, SIGPIPE};

void ForwardSignal(int sig, siginfo_t* info, void*) {
  // Signals from the terminal (SI_KERNEL) reach the child directly as part of the process
  // group; only signals sent by a process to allocwatch need passing on.
  pid_t child = g_child.load();
  if (child > 0 && info != nullptr && info->si_code != SI_KERNEL) kill(child, sig);
}

void InstallForwarding() {
  struct sigaction sa {};
  sa.sa_sigaction = ForwardSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwardedSignals) sigaction(sig, &sa, nullptr);
}

// The program's path as execvp would find it, or empty.
std::string Which(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return access(program.c_str(), F_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// The program's environment. With an empty `preload` (nothing can be recorded) it is
// allocwatch's own, untouched.
std::vector<std::string> ChildEnvironment(const RunCommandOptions& o, const std::string& preload,
                                          const std::string& dir, uint64_t session) {
  std::vector<std::string> env;
  std::string old_preload;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (preload.empty()) {
      env.push_back(entry);
    } else if (entry.rfind("LD_PRELOAD=", 0) == 0) {
      old_preload = entry.substr(11);
    } else if (entry.rfind(envvar::kPrefix, 0) != 0 ||
               entry.rfind(std::string(envvar::kLogLevel) + "=", 0) == 0) {
      env.push_back(entry);
    }
  }
  if (preload.empty()) return env;
  env.push_back("LD_PRELOAD=" + preload + (old_preload.empty() ? "" : " " + old_preload));
  env.push_back(Assignment(envvar::kOutputDir, dir));
  env.push_back(Assignment(envvar::kSession, std::to_string(session)));
  uint64_t sample = o.exact ? 1 : o.sample_bytes.value_or(512 * 1024);
  env.push_back(Assignment(envvar::kSampleBytes, std::to_string(sample)));
  auto interval_ms = static_cast<uint64_t>(std::llround(o.interval_seconds * 1000));
  env.push_back(
      Assignment(envvar::kIntervalMs, std::to_string(std::max<uint64_t>(interval_ms, 1))));
  env.push_back(Assignment(envvar::kWriteBudgetPercent, std::to_string(o.write_budget_percent)));
  env.push_back(Assignment(envvar::kBrinkPercent, o.brink));
  return env;
}

[[noreturn]] void ExecChild(const RunCommandOptions& o, std::vector<std::string> env,
                            const sigset_t& old_mask) {
  if (o.no_children) env.push_back(Assignment(envvar::kOnlyPid, std::to_string(getpid())));
  if (o.paused) env.push_back(Assignment(envvar::kPaused, "1"));
  std::vector<char*> envp, argv;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = o.command;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : kForwardedSignals) sigaction(sig, &dfl, nullptr);
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  execvpe(argv[0], argv.data(), envp.data());
  int err = errno;
  std::string msg = "allocwatch: " + o.command[0] + ": " + std::strerror(err) + "\n";
  ssize_t ignored = write(STDERR_FILENO, msg.data(), msg.size());
  (void)ignored;
  _exit(err == ENOENT ? 127 : 126);
}

int WaitFor(pid_t child) {
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      spdlog::error("waitpid: {}", std::strerror(errno));
      return -1;
    }
  }
  return status;
}

// Ends allocwatch the way the program ended.
[[noreturn]] void ExitLike(int status) {
  if (WIFEXITED(status)) std::exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the program already dumped its core if it was going to
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  std::exit(128 + sig);
}

// The session and pid of a recording's process record; nullopt when it has none (yet).
std::optional<std::pair<uint64_t, uint32_t>> SessionOf(const std::string& path) {
  try {
    report::RecordingReader reader(path);
    auto first = reader.Next();
    if (!first || first->type != format::RecordType::kProcess) return std::nullopt;
    format::ProcessRecord p;
    std::memcpy(&p, first->bytes.data(), sizeof(p));
    return std::make_pair(p.session_id, p.pid);
  } catch (const report::ReadError&) {
    return std::nullopt;
  }
}

// Replays the session's recordings while the program runs, on CPU time the program leaves idle
// (SCHED_IDLE), so that the report at its end reads only what was written since the last pass
// (on two cores the replay of a busy exact-mode recording keeps up with its writing).
class BackgroundReplay {
 public:
  static constexpr size_t kMaxFollowedOpen = 64;
  static constexpr uint64_t kStepBytes = 32 << 20;  // about 6 M exact events, 0.2 s of replay
  // `report`: the options of the report made at the end, whose symbols are looked up ahead.
  BackgroundReplay(std::string dir, uint64_t session, ReportCommandOptions report)
      : dir_(std::move(dir)),
        session_(session),
        report_(std::move(report)),
        thread_([this] { Loop(); }) {}
  ~BackgroundReplay() { Stop(); }
  BackgroundReplay(const BackgroundReplay&) = delete;
  BackgroundReplay& operator=(const BackgroundReplay&) = delete;

  // Ends the replay (the batch of events under way is finished, the rest of the step is left)
  // and hands over what it followed, to be read on from there with the reader ahead on a
  // second thread where there is a second CPU: the program is done, its cores are free.
  FollowedRecordings& Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);  // so that the loop's wait cannot miss it
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    followed_.set_read_ahead(report::ReadAhead::Worthwhile());
    return followed_;
  }

 private:
  void Loop() {
    // The stacks met so far are symbolized between steps (as the run's report will need
    // them), so that the report at the end finds the debug files read and the addresses
    // looked up: most stacks appear early in a run.
    const bool whole_stacks = PrepareSymbolsFor(report_, followed_);
    // SCHED_IDLE: this thread runs only on a CPU that nothing else wants. A program that keeps
    // every core busy (a server under its benchmark) loses nothing to it; the replay is then
    // left for the end, as without it. Where SCHED_IDLE is refused, nice 19.
    sched_param idle{};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0) {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      bool more = Step();
      followed_.PrepareNewStacks(whole_stacks, &stop_);
      lock.lock();
      if (!more) {
        wake_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_.load(); });
      }
    }
  }

  // Replays what the recordings gained, at most kStepBytes of each (the stacks met meanwhile
  // are symbolized between steps, even while a busy program keeps the replay behind). True
  // when one had more.
  bool Step() {
    bool more = false;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      if (stop_) return false;
      if (entry.path().extension() != ".awtrace") continue;
      std::string path = entry.path().string();
      auto known = mine_.find(path);
      if (known == mine_.end()) {
        auto id = SessionOf(path);
        if (!id) continue;  // no process record yet: looked at again next time
        known = mine_.emplace(path, id->first == session_).first;
      }
      if (!known->second) continue;
      // Past this many open at once, new ones are left for the end (descriptors are few).
      if (!followed_.Has(path) && followed_.open() >= kMaxFollowedOpen) continue;
      try {
        more = followed_.Update(path, &stop_, kStepBytes) || more;
      } catch (const report::ReadError&) {
        followed_.Forget(path);  // the report reads it again, and says what is wrong
        mine_[path] = false;
      }
    }
    return more;
  }

  std::string dir_;
  uint64_t session_;
  ReportCommandOptions report_;
  FollowedRecordings followed_;
  std::map<std::string, bool> mine_;  // recordings seen: of this session or not
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};  // also read by the replay between batches of events
  std::thread thread_;             // last: starts once the rest is built
};

// How a recording ends, from its record headers (the bodies are skipped, so a large recording
// is not replayed again).
struct RecordingEnd {
  uint32_t pid = 0;
  bool ended = false;      // its last record is an End or an Exec record
  bool recovered = false;  // a tail file was merged into it (the process was killed)
};

RecordingEnd ReadRecordingEnd(const std::string& path) {
  RecordingEnd e;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return e;
  // The headers are read in blocks of 64 KiB: the many small records (stacks, threads,
  // snapshots) come by the hundred to a read, a large one (a batch of events) is stepped over.
  std::vector<char> block(64 << 10);
  uint64_t block_start = 0;
  size_t block_size = 0;
  auto read_at = [&](uint64_t offset, void* out, size_t n) {
    if (offset < block_start || offset + n > block_start + block_size) {
      ssize_t got = pread(fd, block.data(), block.size(), static_cast<off_t>(offset));
      block_start = offset;
      block_size = got > 0 ? static_cast<size_t>(got) : 0;
      if (n > block_size) return false;
    }
    std::memcpy(out, block.data() + (offset - block_start), n);
    return true;
  };
  format::FileHeader header{};
  format::ProcessRecord process{};
  if (read_at(0, &header, sizeof(header)) &&
      read_at(header.header_size, &process, sizeof(process))) {
    e.pid = process.pid;
    uint64_t offset = header.header_size;
    uint16_t last = 0;
    for (format::RecordHeader h{}; read_at(offset, &h, sizeof(h));) {
      if (h.size < sizeof(h) || h.size % 8 != 0 || h.size > format::kMaxRecordSize) break;
      last = h.type;
      if (h.type == static_cast<uint16_t>(format::RecordType::kRecovered)) e.recovered = true;
      offset += h.size;
    }
    e.ended = last == static_cast<uint16_t>(format::RecordType::kEnd) ||
              last == static_cast<uint16_t>(format::RecordType::kExec);
  }
  close(fd);
  return e;
}

// What the recordings lack: a process whose file has no end record was killed (what its tail
// file held is in the recording now), or its recording could not be written to the end.
void LossNotes(const std::vector<std::string>& files, const std::string& dir, pid_t child,
               int status, std::ostream& out) {
  bool any_cut = false;
  for (const std::string& f : files) {
    RecordingEnd end = ReadRecordingEnd(f);
    if (end.ended) continue;
    std::error_code ec;
    uint64_t size = fs::file_size(f, ec);
    if (end.recovered) {
      out << "allocwatch: process " << end.pid << " was killed; its recording " << f
          << " holds what it did up to the kill (its tail file was merged into it)\n";
      continue;
    }
    any_cut = true;
    if (end.pid == static_cast<uint32_t>(child) && WIFEXITED(status)) {
      out << "allocwatch: process " << end.pid << " exited, but its recording " << f
          << " stops after " << size
          << " bytes: writing it failed (file system full, or the file was removed); what the "
             "program did after that is lost\n";
    } else {
      out << "allocwatch: " << f << " has no end record: process " << end.pid
          << " was killed, or its recording could not be written to the end; what it did "
             "after its last record is lost\n";
    }
  }
  struct statvfs fs {};
  if (any_cut && statvfs(dir.c_str(), &fs) == 0 && fs.f_bavail == 0) {
    out << "allocwatch: the file system of " << dir << " is full\n";
  }
}

// Prints each gate's verdict (and, for one that failed, who did it); true when one failed.
bool PrintGates(const std::vector<report::GateVerdict>& verdicts, std::ostream& out) {
  bool failed = false;
  for (const report::GateVerdict& v : verdicts) {
    failed = failed || v.failed;
    out << "allocwatch: gate " << v.gate << (v.failed ? " FAILED: " : " passed: ") << v.summary
        << "\n";
    if (!v.failed) continue;
    for (const std::string& c : v.culprits) out << "  " << c << "\n";
  }
  return failed;
}

// The options of the report `allocwatch run` makes at the end (when not --no-report).
ReportCommandOptions RunReportOptions(const RunCommandOptions& o) {
  ReportCommandOptions report;
  report.format = o.format;
  report.top = o.top;
  report.symbol_tables = false;  // the recordings are new; a .awsym by their name is stale
  // The report goes to stderr or a file: colour only for a terminal on stderr.
  const char* no_colour = std::getenv("NO_COLOR");
  bool colour = o.report_file.empty() && isatty(STDERR_FILENO) == 1 &&
                (no_colour == nullptr || no_colour[0] == '\0');
  report.colour = colour ? "always" : "never";
  return report;
}

// Writes the report of the session's recordings (unless --no-report) and checks the gates;
// sets *gate_failed when one failed.
int Report(const RunCommandOptions& o, const std::string& dir, uint64_t session, pid_t child,
           int status, const OomVerdict& ending, const std::string& unrecorded_reason,
           FollowedRecordings* followed, bool* gate_failed) {
  std::vector<std::string> files =
      FindSessionRecordings(dir, session, static_cast<uint32_t>(child));
  // A process of the session that was killed left its last records in its tail file; the
  // background replay goes on into them (or reads that recording anew: Merged).
  for (const std::string& f : files) MergeTailOf(f, followed);
  std::ofstream file;
  if (!o.report_file.empty()) {
    file.open(o.report_file, std::ios::binary | std::ios::trunc);
    if (!file) spdlog::error("{}: cannot create the report file", o.report_file);
  }
  std::ostream& out = o.report_file.empty() ? std::cerr : static_cast<std::ostream&>(file);
  if (!unrecorded_reason.empty()) {
    // On stderr the warning given at the start says it already.
    if (!o.report_file.empty())
      out << "allocwatch: nothing was recorded: " << unrecorded_reason << "\n";
    if (o.gates.any()) {
      std::cerr << "allocwatch: the gates were not checked: nothing was recorded\n";
      *gate_failed = true;
    }
    return 1;
  }
  if (files.empty()) {
    out << "allocwatch: no recording was written in " << dir
        << " (the program may be set-user-ID or static, may have removed LD_PRELOAD from its "
           "environment, or the recording could not be created)\n";
    return 1;
  }
  std::vector<report::GateVerdict> verdicts;
  InspectReports inspect;
  if (o.gates.any()) {
    inspect = [&](const std::vector<report::ProcessReport>& reports) {
      verdicts = report::CheckGates(reports, o.gates);
    };
  }
  if (o.no_report) {
    out << "allocwatch: " << files.size() << (files.size() == 1 ? " recording:" : " recordings:");
    for (const std::string& f : files) out << " " << f;
    out << "\n";
    if (!inspect) return 0;
    ReportCommandOptions quiet;
    quiet.top = o.top;
    quiet.symbol_tables = false;
    std::ostringstream none;
    int rc = RenderRecordings(files, quiet, none, followed, inspect, /*render=*/false);
    *gate_failed = PrintGates(verdicts, std::cerr) || rc != 0;
    return rc;
  }
  int rc = RenderRecordings(files, RunReportOptions(o), out, followed, inspect);
  (void)status;
  if (o.format == "text") {
    out << "\nprogram " << ending.summary << "\n";
    for (const std::string& e : ending.evidence) out << "  evidence: " << e << "\n";
    out << "recordings (" << files.size() << "):\n";
    for (const std::string& f : files) out << "  " << f << "\n";
  }
  LossNotes(files, dir, child, status, out);
  if (inspect) {
    // On stderr always (a CI log shows it), and in the report file when there is one.
    if (!o.report_file.empty() && o.format == "text") PrintGates(verdicts, out);
    *gate_failed = PrintGates(verdicts, std::cerr) || verdicts.empty();
    if (verdicts.empty()) std::cerr << "allocwatch: the gates were not checked: no report\n";
  }
  return rc;
}

}  // namespace

std::string FindPreload() {
  if (const char* env = std::getenv(envvar::kPreload)) return env;
  std::error_code ec;
  const fs::path dir = ProgramDirectory();
  for (const char* rel :
       {"liballocwatch.so", "../lib/allocwatch/liballocwatch.so", "../lib/liballocwatch.so"}) {
    fs::path candidate = dir / rel;
    if (fs::exists(candidate, ec)) return fs::canonical(candidate, ec).string();
  }
  return {};
}

std::vector<std::string> FindSessionRecordings(const std::string& dir, uint64_t session_id,
                                               uint32_t first_pid) {
  std::vector<std::pair<uint32_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".awtrace") continue;
    try {
      report::RecordingReader reader(entry.path().string());
      auto first = reader.Next();
      if (!first || first->type != format::RecordType::kProcess) continue;
      format::ProcessRecord p;
      std::memcpy(&p, first->bytes.data(), sizeof(p));
      if (p.session_id != session_id) continue;
      found.emplace_back(p.pid == first_pid ? 0 : p.pid, entry.path().string());
    } catch (const report::ReadError&) {
      continue;
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> files;
  for (auto& [pid, path] : found) files.push_back(path);
  return files;
}

int RunRun(const RunCommandOptions& o) {
  std::string preload = FindPreload();
  if (preload.empty()) {
    spdlog::error(
        "cannot find liballocwatch.so next to the allocwatch command; set ALLOCWATCH_PRELOAD");
    return 2;
  }
  std::string program = Which(o.command[0]);
  if (program.empty()) {
    spdlog::error("{}: command not found", o.command[0]);
    return 127;  // as a shell does
  }
  // The program runs in every case; when it cannot be recorded it runs without the preload and
  // allocwatch says why.
  std::string unrecorded;
  ProgramCheck check = CheckProgram(program);
  if (check.is_static) {
    unrecorded =
        program + " is statically linked: LD_PRELOAD cannot reach it, so it runs unrecorded";
  } else if (check.secure) {
    unrecorded = program + " is " + check.secure_reason +
                 ": the loader runs it in secure-execution mode and ignores LD_PRELOAD, so it "
                 "runs unrecorded";
  }
  std::error_code ec;
  fs::create_directories(o.output_dir, ec);
  std::string dir = fs::absolute(o.output_dir, ec).lexically_normal().string();
  if (unrecorded.empty() && (!fs::is_directory(dir, ec) || access(dir.c_str(), W_OK | X_OK) != 0)) {
    unrecorded =
        "cannot write recordings into " + o.output_dir + " (" +
        (fs::is_directory(dir, ec) ? std::string("not writable") : std::string("not a directory")) +
        "), so the program runs unrecorded";
  }
  if (!unrecorded.empty()) {
    spdlog::warn("{}", unrecorded);
    preload.clear();
  }
  uint64_t session = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  session &= (uint64_t{1} << 62) - 1;
  std::vector<std::string> env = ChildEnvironment(o, preload, dir, session);
  OomCounters before = ReadOomCounters();

  sigset_t all, old_mask;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old_mask);  // no forwarding before the child's pid is known
  InstallForwarding();
  pid_t child = fork();
  if (child < 0) {
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    spdlog::error("fork: {}", std::strerror(errno));
    return 2;
  }
  if (child == 0) ExecChild(o, std::move(env), old_mask);
  g_child.store(child);
  // Started with every signal blocked: they stay the main thread's to take.
  std::optional<BackgroundReplay> replay;
  if (!o.no_report && unrecorded.empty()) replay.emplace(dir, session, RunReportOptions(o));
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);

  int status = WaitFor(child);
  if (status < 0) return 2;
  OomVerdict ending = JudgeEnding(status, child, before, ReadOomCounters());
  if (o.format != "text" && ending.oom_killed) spdlog::warn("program {}", ending.summary);
  FollowedRecordings* followed = replay ? &replay->Stop() : nullptr;
  bool gate_failed = false;
  Report(o, dir, session, child, status, ending, unrecorded, followed, &gate_failed);
  // A program that failed on its own keeps its status; one that exited 0 takes the gate's.
  if (gate_failed && WIFEXITED(status) && WEXITSTATUS(status) == 0) std::exit(o.gate_status);
  ExitLike(status);
}

}  // namespace allocwatch::tools
