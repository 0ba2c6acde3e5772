// tests/hostile/hostile_test.cc: programs doing what broke other allocation profilers, run
// plainly, in exact mode and in the default (sampling) mode. Each test requires the three runs
// to behave the same (stdout, stderr, exit status or signal) and then checks what the
// recordings must contain.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <map>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using report::Ending;

constexpr uint64_t kDefaultSampleBytes = 512 * 1024;

struct ModeRun {
  RunResult run;
  std::vector<std::string> files;
};

struct Matrix {
  RunResult plain;
  ModeRun exact;
  ModeRun sampled;
};

using ArgvFor = std::function<std::vector<std::string>(const std::string& label)>;

// Runs the program plainly, in exact mode and in default mode (each with argv(label) for label
// plain/exact/default) and requires identical behaviour.
Matrix RunAllModes(const TempDir& dir, const ArgvFor& argv, RunOptions base = {}) {
  Matrix m;
  base.preload = false;
  m.plain = Run(argv("plain"), base);
  for (const char* label : {"exact", "default"}) {
    RunOptions o = base;
    o.preload = true;
    o.output_dir = dir.Sub(std::string("rec-") + label);
    o.sample_bytes = std::string(label) == "exact" ? 1 : kDefaultSampleBytes;
    ModeRun& r = std::string(label) == "exact" ? m.exact : m.sampled;
    r.run = Run(argv(label), o);
    r.files = Recordings(o.output_dir);
    INFO("mode " << label << ": " << r.run.Describe() << "\nplain: " << m.plain.Describe());
    CHECK(r.run.status == m.plain.status);
    CHECK(r.run.out == m.plain.out);
    CHECK(r.run.err == m.plain.err);
  }
  return m;
}

Matrix RunAllModes(const TempDir& dir, const std::vector<std::string>& argv, RunOptions base = {}) {
  return RunAllModes(
      dir, [&](const std::string&) { return argv; }, std::move(base));
}

std::vector<std::string> Hostile(std::vector<std::string> args) {
  args.insert(args.begin(), PROGRAM_HOSTILE);
  return args;
}

// Recorded heap blocks of exactly `size` bytes still live at the end, replayed from the raw
// Alloc and Free records as the reader hands them out (in time order).
size_t LiveOfSize(const std::string& file, uint64_t size) {
  std::map<uint64_t, uint64_t> live;  // address -> size
  for (const report::RawRecord& r : ReadRecords(file).records) {
    if (r.type == format::RecordType::kAlloc) {
      auto a = As<format::AllocRecord>(r);
      live[a.address] = a.size;
    } else if (r.type == format::RecordType::kFree) {
      live.erase(As<format::FreeRecord>(r).address);
    }
  }
  size_t n = 0;
  for (const auto& [address, block_size] : live) n += block_size == size;
  return n;
}

size_t CountRecords(const std::string& file, format::RecordType type) {
  size_t n = 0;
  for (const report::RawRecord& r : ReadRecords(file).records) n += r.type == type;
  return n;
}

std::string Warnings(const report::ProcessModel& m) {
  std::string s;
  for (const std::string& w : m.warnings) s += w + "\n";
  return s;
}

// The one recording of a single-process run, complete (end record, no warnings).
report::ProcessModel OneCompleteRecording(const ModeRun& r) {
  REQUIRE(r.files.size() == 1);
  report::ProcessModel m = report::LoadProcess(r.files[0]);
  INFO(Warnings(m));
  CHECK(m.ending == Ending::kExit);
  CHECK(m.warnings.empty());
  CHECK(m.lost_events == 0);
  return m;
}

TEST_CASE("16 threads allocating with cross-thread frees", "[hostile][threads]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"cross-threads", "2000"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "cross-threads: 16 threads, frees>0: yes\n");
  report::ProcessModel exact = OneCompleteRecording(m.exact);
  CHECK(exact.threads.size() >= 17);  // main and the 16 workers
  CHECK(exact.totals.alloc_count > 100000);
  CHECK(LiveOfSize(m.exact.files[0], 7001) == 3);
  // Everything the workers allocated was freed (by whichever thread). (What pthread_create
  // allocated stays in glibc's stack cache, and stdio's buffer stays too.)
  Sites sites(exact);
  INFO("sites:\n" << DescribeSites(sites.all()));
  report::SiteFigures workers = sites.Sum("(anonymous namespace)::CrossWorker");
  CHECK(workers.alloc_count > 100000);
  CHECK(workers.live_count == 0);
  report::ProcessModel sampled = OneCompleteRecording(m.sampled);
  CHECK(!sampled.exact);
  CHECK(sampled.totals.alloc_count > 0);
}

TEST_CASE("thousands of short-lived threads", "[hostile][threads]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"many-threads", "3000"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "many-threads: 3000 threads joined\n");
  report::ProcessModel exact = OneCompleteRecording(m.exact);
  // Thread records are per tid; the kernel may reuse tids, so count the recorded mallocs.
  CHECK(exact.totals.alloc_count >= 3000);
  CHECK(exact.threads.size() > 1);
  CHECK(LiveOfSize(m.exact.files[0], 7002) == 2);
  OneCompleteRecording(m.sampled);
}

TEST_CASE("dlopen and dlclose in a loop while other threads allocate", "[hostile][dlopen]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"dlopen", PROGRAM_HOSTILE_PLUGIN, "200"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out.rfind("dlopen: 200 rounds, sum ", 0) == 0);
  report::ProcessModel exact = OneCompleteRecording(m.exact);
  CHECK(LiveOfSize(m.exact.files[0], 7003) == 1);
  // The plugin's constructor allocation (1234 bytes) was freed by its destructor each round.
  CHECK(LiveOfSize(m.exact.files[0], 1234) == 0);
  size_t plugin_loads = 0, plugin_unloads = 0;
  for (const report::ModuleInfo& mod : exact.modules) {
    if (Basename(mod.path) != Basename(PROGRAM_HOSTILE_PLUGIN)) continue;
    ++plugin_loads;
    plugin_unloads += mod.unload_position != UINT64_MAX;
  }
  CHECK(plugin_loads >= 1);
  CHECK(plugin_unloads == plugin_loads);  // not loaded at exit
  OneCompleteRecording(m.sampled);
}

TEST_CASE("fork from a multi-threaded program, then allocate in parent and child",
          "[hostile][fork]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"fork-threads"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "fork-threads: child done\nfork-threads: child exited 3\n");
  for (const ModeRun* r : {&m.exact, &m.sampled}) {
    REQUIRE(r->files.size() == 2);
    report::ProcessModel a = report::LoadProcess(r->files[0]);
    report::ProcessModel b = report::LoadProcess(r->files[1]);
    report::ProcessModel& parent = a.fork_child ? b : a;
    report::ProcessModel& child = a.fork_child ? a : b;
    INFO(Warnings(parent) << Warnings(child));
    CHECK(parent.pid == static_cast<uint32_t>(r->run.pid));
    CHECK(child.fork_child);
    CHECK(child.ppid == parent.pid);
    CHECK(parent.ending == Ending::kExit);
    CHECK(child.ending == Ending::kExit);
    CHECK(parent.warnings.empty());
    CHECK(child.warnings.empty());
    if (r == &m.exact) {
      const std::string& parent_file = a.fork_child ? r->files[1] : r->files[0];
      const std::string& child_file = a.fork_child ? r->files[0] : r->files[1];
      CHECK(LiveOfSize(parent_file, 7005) == 2);
      CHECK(LiveOfSize(child_file, 7004) == 4);
      CHECK(LiveOfSize(child_file, 7005) == 0);
    }
  }
}

// The children run "leaf", which leaks 5 x 7006 bytes and exits with 4.
void CheckParentAndLeaf(const ModeRun& r, uint64_t parent_leak, bool exact) {
  REQUIRE(r.files.size() == 2);
  std::map<std::string, std::string> by_arg;  // argv[1] -> file
  for (const std::string& f : r.files) {
    report::ProcessModel p = report::LoadProcess(f);
    INFO(f << "\n" << Warnings(p));
    REQUIRE(p.argv.size() >= 2);
    CHECK(p.ending == Ending::kExit);
    CHECK(p.warnings.empty());
    CHECK_FALSE(p.fork_child);  // an exec'd child has a process record of its own image
    by_arg[p.argv[1]] = f;
  }
  REQUIRE(by_arg.count("leaf") == 1);
  REQUIRE(by_arg.size() == 2);
  if (exact) {
    CHECK(LiveOfSize(by_arg["leaf"], 7006) == 5);
    for (auto& [arg, file] : by_arg) {
      if (arg != "leaf") CHECK(LiveOfSize(file, parent_leak) == 1);
    }
  }
}

TEST_CASE("vfork and exec", "[hostile][spawn]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"vfork-exec"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "leaf: done\nvfork-exec: child exited 4\n");
  CheckParentAndLeaf(m.exact, 7007, true);
  CheckParentAndLeaf(m.sampled, 7007, false);
}

TEST_CASE("posix_spawn", "[hostile][spawn]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"posix-spawn"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "leaf: done\nposix-spawn: child exited 4\n");
  CheckParentAndLeaf(m.exact, 7008, true);
  CheckParentAndLeaf(m.sampled, 7008, false);
}

TEST_CASE("signal handlers that allocate fire during allocation-heavy code", "[hostile][signals]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"signals", "1500"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "signals: handled>0: yes\n");
  report::ProcessModel exact = OneCompleteRecording(m.exact);
  CHECK(LiveOfSize(m.exact.files[0], 7009) == 1);
  // The handler's mappings (8 KiB each) were recorded and all unmapped again.
  CHECK(exact.totals.mmap_calls > 0);
  CHECK(exact.totals.mapped_live_bytes < 8192);
  OneCompleteRecording(m.sampled);
}

TEST_CASE("C++ exceptions thrown through allocation paths", "[hostile][exceptions]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, Hostile({"exceptions"}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "exceptions: caught 3000 runtime_error, 10 bad_alloc\n");
  for (const ModeRun* r : {&m.exact, &m.sampled}) {
    report::ProcessModel model = OneCompleteRecording(*r);
    // Each impossible operator new is a failed malloc, recorded in every mode.
    size_t failed = 0;
    for (const report::Failure& f : model.failures) {
      failed += f.call == format::Call::kMalloc && f.error == ENOMEM;
    }
    CHECK(failed == 10);
  }
  CHECK(LiveOfSize(m.exact.files[0], 7010) == 1);
}

// Closing the recording's descriptor must not stop the recording: it is reopened, the report
// says so, and everything allocated afterwards is there.
void CheckReopened(const ModeRun& r, uint64_t leak_size, size_t leak_count, bool exact) {
  REQUIRE(r.files.size() == 1);
  report::ProcessModel model = report::LoadProcess(r.files[0]);
  INFO(Warnings(model));
  CHECK(model.ending == Ending::kExit);
  CHECK(model.lost_events == 0);
  CHECK(CountRecords(r.files[0], format::RecordType::kLost) >= 1);
  REQUIRE(model.warnings.size() >= 1);
  CHECK(model.warnings[0].find("closed or replaced the recording's descriptor") !=
        std::string::npos);
  if (exact) {
    CHECK(LiveOfSize(r.files[0], leak_size) == leak_count);
    CHECK(model.totals.alloc_count > 200000 / 3);
  }
}

TEST_CASE("a program that closes every descriptor above 2 and then allocates heavily",
          "[hostile][descriptors]") {
  TempDir dir;
  for (const char* how : {"closefrom", "loop"}) {
    SECTION(how) {
      Matrix m = RunAllModes(dir, Hostile({"close-all", how}));
      REQUIRE(m.plain.ExitedWith(0));
      CheckReopened(m.exact, 7011, 6, true);
      CheckReopened(m.sampled, 7011, 6, false);
    }
  }
}

TEST_CASE("a program that dup2s its own file over every descriptor above 2",
          "[hostile][descriptors]") {
  TempDir dir;
  const std::string files = dir.Sub("own");
  Matrix m = RunAllModes(dir, [&](const std::string& label) {
    return Hostile({"dup2", files + "/" + label + ".txt"});
  });
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "dup2: some descriptors replaced\n");
  // Nothing of the recording went into the program's file.
  const std::string expected = "only this line belongs in the file\n";
  CHECK(ReadFile(files + "/plain.txt") == expected);
  CHECK(ReadFile(files + "/exact.txt") == expected);
  CHECK(ReadFile(files + "/default.txt") == expected);
  CheckReopened(m.exact, 7012, 2, true);
  CheckReopened(m.sampled, 7012, 2, false);
}

TEST_CASE(
    "the address space runs out while many allocations are sampled: allocwatch's tables "
    "cannot grow, the program goes on",
    "[hostile][limits]") {
  TempDir dir;
  RunResult plain = Run(Hostile({"fill"}), RunOptions{});
  REQUIRE(plain.ExitedWith(0));
  CHECK(plain.out == "fill: malloc failed with ENOMEM, everything freed\n");
  RunOptions o;
  o.preload = true;
  o.output_dir = dir.Sub("rec");
  o.sample_bytes = 64;  // about every other block sampled: the live table grows to millions
  RunResult run = Run(Hostile({"fill"}), o);
  INFO(run.Describe());
  CHECK(run.status == plain.status);
  CHECK(run.out == plain.out);
  std::vector<std::string> files = Recordings(o.output_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel p = report::LoadProcess(files[0]);
  INFO(Warnings(p));
  CHECK(p.ending == Ending::kExit);
  // Whether a table had to grow while memory was short depends on where in its doubling the
  // address space ran out (most runs here: yes). When one did, its sample was dropped and the
  // recording says so; before, allocwatch trapped and the program died of SIGILL.
  bool dropped = Warnings(p).find("allocwatch's own tables could not grow") != std::string::npos;
  CHECK(dropped == (CountRecords(files[0], format::RecordType::kLost) >= 1));
}

TEST_CASE("setrlimit and chdir before allocating, with a relative output directory",
          "[hostile][limits]") {
  TempDir dir;
  const std::string elsewhere = dir.Sub("elsewhere");
  RunOptions base;
  base.cwd = dir.path();
  // A relative ALLOCWATCH_OUTPUT_DIR: it must mean the directory at start-up, also for the
  // child forked after the chdir.
  Matrix m;
  m.plain = Run(Hostile({"limits", elsewhere}), base);
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "limits: big malloc failed errno ENOMEM, child exited 0\n");
  for (const char* label : {"exact", "default"}) {
    RunOptions o = base;
    o.preload = true;
    o.output_dir = std::string("rec-") + label;  // relative to base.cwd
    o.sample_bytes = std::string(label) == "exact" ? 1 : kDefaultSampleBytes;
    dir.Sub(o.output_dir);
    RunResult run = Run(Hostile({"limits", elsewhere}), o);
    INFO(label << ": " << run.Describe());
    CHECK(run.status == m.plain.status);
    CHECK(run.out == m.plain.out);
    CHECK(run.err == m.plain.err);
    std::vector<std::string> files = Recordings(dir.path() + "/" + o.output_dir);
    REQUIRE(files.size() == 2);
    CHECK(Recordings(elsewhere).empty());
    for (const std::string& f : files) {
      report::ProcessModel p = report::LoadProcess(f);
      INFO(f << "\n" << Warnings(p));
      CHECK(p.ending == Ending::kExit);
      CHECK(p.warnings.empty());
      if (!p.fork_child) {
        size_t enomem = 0;
        for (const report::Failure& fail : p.failures) enomem += fail.error == ENOMEM;
        CHECK(enomem >= 1);  // the malloc refused by RLIMIT_AS
        if (std::string(label) == "exact") CHECK(LiveOfSize(f, 7014) == 1);
      } else if (std::string(label) == "exact") {
        CHECK(LiveOfSize(f, 7013) == 3);
      }
    }
  }
}

// Runs argv with stdout a pipe whose reading end is closed; returns the wait status and stderr.
std::pair<int, std::string> RunIntoClosedPipe(const std::vector<std::string>& argv,
                                              const std::vector<std::string>& env_add) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  close(p[0]);
  TempDir io;
  const std::string err_path = io.path() + "/stderr";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    close(p[1]);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(err, STDERR_FILENO);
    close(err);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const std::string& e : env_add) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, ReadFile(err_path)};
}

TEST_CASE("stdout is a closed pipe: SIGPIPE and EPIPE as without allocwatch", "[hostile][pipe]") {
  TempDir dir;
  for (const char* variant : {"default-sigpipe", "ignore-sigpipe"}) {
    SECTION(variant) {
      std::vector<std::string> argv = Hostile({"write-lots", variant});
      auto plain = RunIntoClosedPipe(argv, {});
      if (std::string(variant) == "default-sigpipe") {
        CHECK((WIFSIGNALED(plain.first) && WTERMSIG(plain.first) == SIGPIPE));
      } else {
        CHECK((WIFEXITED(plain.first) && WEXITSTATUS(plain.first) == 9));
        CHECK(plain.second == "write failed: EPIPE\n");
      }
      for (uint64_t sample : {uint64_t{1}, kDefaultSampleBytes}) {
        const std::string out_dir = dir.Sub(std::string(variant) + std::to_string(sample));
        auto traced = RunIntoClosedPipe(
            argv, {std::string("LD_PRELOAD=") + PRELOAD_LIBRARY, "ALLOCWATCH_OUTPUT_DIR=" + out_dir,
                   "ALLOCWATCH_SAMPLE_BYTES=" + std::to_string(sample)});
        CHECK(traced.first == plain.first);
        CHECK(traced.second == plain.second);
        std::vector<std::string> files = Recordings(out_dir);
        REQUIRE(files.size() == 1);
        report::ProcessModel model = report::LoadProcess(files[0]);
        if (std::string(variant) == "default-sigpipe") {
          // Killed by the signal: no end record, but what was written is readable.
          CHECK(model.ending == Ending::kCutShort);
        } else {
          CHECK(model.ending == Ending::kExit);
          if (sample == 1) CHECK(LiveOfSize(files[0], 7015) == 1);
        }
      }
    }
  }
}

TEST_CASE("a command line with newlines and bytes that are not UTF-8", "[hostile][cmdline]") {
  TempDir dir;
  const std::string odd1 = "line one\nline two";
  const std::string odd2 = std::string("bytes \xff\xfe\x80 and \x1b[31m");
  Matrix m = RunAllModes(dir, Hostile({"args", odd1, odd2, ""}));
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out.find("arg 2: 6c 69 6e 65 20 6f 6e 65 0a") != std::string::npos);
  for (const ModeRun* r : {&m.exact, &m.sampled}) {
    report::ProcessModel model = OneCompleteRecording(*r);
    // The recording carries the bytes exactly, the empty argument included.
    CHECK(model.argv == std::vector<std::string>{PROGRAM_HOSTILE, "args", odd1, odd2, ""});
  }
  // The text report shows them escaped, on one line, without the terminal escape.
  RunResult report = Run({ALLOCWATCH_COMMAND, "report", "--no-symbols", m.exact.files[0]});
  INFO(report.Describe());
  REQUIRE(report.ExitedWith(0));
  std::string command_line;
  size_t at = report.out.find("\ncommand     ");
  REQUIRE(at != std::string::npos);
  command_line = report.out.substr(at + 1, report.out.find('\n', at + 1) - at - 1);
  CHECK(
      command_line.find("args $'line one\\nline two' $'bytes \\xff\\xfe\\x80 and \\x1b[31m' ''") !=
      std::string::npos);
  CHECK(report.out.find('\x1b') == std::string::npos);
  // The JSON report stays valid JSON (bytes that are not UTF-8 are replaced).
  RunResult json =
      Run({ALLOCWATCH_COMMAND, "report", "--no-symbols", "--format", "json", m.exact.files[0]});
  INFO(json.Describe());
  CHECK(json.ExitedWith(0));
  CHECK(json.out.find("line one\\nline two") != std::string::npos);
}

// ---- programs allocwatch cannot follow, and recordings that cannot be written ----

// `allocwatch run [OPTIONS] -- ARGV` with the given options.
RunResult AllocwatchRun(const std::vector<std::string>& options,
                        const std::vector<std::string>& argv) {
  std::vector<std::string> all = {ALLOCWATCH_COMMAND, "run"};
  all.insert(all.end(), options.begin(), options.end());
  all.push_back("--");
  all.insert(all.end(), argv.begin(), argv.end());
  return Run(all);
}

TEST_CASE("allocwatch run: a static binary runs unrecorded, with a warning", "[run]") {
  TempDir dir;
  RunResult plain = Run({PROGRAM_STATIC});
  REQUIRE(plain.ExitedWith(6));
  RunResult run = AllocwatchRun({"-o", dir.Sub("rec")}, {PROGRAM_STATIC});
  INFO(run.Describe());
  CHECK(run.ExitedWith(6));
  CHECK(run.out == plain.out);
  CHECK(run.err.find("is statically linked: LD_PRELOAD cannot reach it, so it runs unrecorded") !=
        std::string::npos);
  CHECK(Recordings(dir.Sub("rec")).empty());
}

TEST_CASE("allocwatch run: a missing program is an error with status 127", "[run]") {
  TempDir dir;
  RunResult run = AllocwatchRun({"-o", dir.Sub("rec")}, {"no-such-program-anywhere", "x"});
  INFO(run.Describe());
  CHECK(run.ExitedWith(127));
  CHECK(run.out.empty());
  CHECK(run.err == "allocwatch: error: no-such-program-anywhere: command not found\n");
  RunResult path = AllocwatchRun({"-o", dir.Sub("rec")}, {dir.path() + "/missing"});
  CHECK(path.ExitedWith(127));
}

TEST_CASE("allocwatch run: an unusable output directory; the program still runs", "[run]") {
  TempDir dir;
  std::vector<std::string> argv = Hostile({"exceptions"});
  RunResult plain = Run(argv);
  REQUIRE(plain.ExitedWith(0));
  RunResult run = AllocwatchRun({"-o", "/dev/null/recordings"}, argv);
  INFO(run.Describe());
  CHECK(run.ExitedWith(0));
  CHECK(run.out == plain.out);
  CHECK(run.err.find("cannot write recordings into /dev/null/recordings (not a directory), so the "
                     "program runs unrecorded") != std::string::npos);
}

bool CanMountTmpfs(const std::string& where, const std::string& options) {
  return geteuid() == 0 && mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
}

TEST_CASE("allocwatch run: a read-only output directory; the program still runs", "[run]") {
  TempDir dir;
  const std::string ro = dir.Sub("ro");
  if (!CanMountTmpfs(ro, "size=64k")) {
    WARN("skipped: cannot mount a tmpfs here (needs root)");
    return;
  }
  mount(nullptr, ro.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr);
  std::vector<std::string> argv = Hostile({"exceptions"});
  RunResult plain = Run(argv);
  RunResult run = AllocwatchRun({"-o", ro}, argv);
  umount(ro.c_str());
  INFO(run.Describe());
  CHECK(run.ExitedWith(0));
  CHECK(run.out == plain.out);
  CHECK(run.err.find("(not writable), so the program runs unrecorded") != std::string::npos);
}

TEST_CASE("allocwatch run: the file system fills up while recording", "[run]") {
  TempDir dir;
  const std::string tiny = dir.Sub("tiny");
  if (!CanMountTmpfs(tiny, "size=64k")) {
    WARN("skipped: cannot mount a 64 KiB tmpfs here (needs root)");
    return;
  }
  // Exact mode records far more than 64 KiB; the program must not notice.
  std::vector<std::string> argv = Hostile({"cross-threads", "300"});
  RunResult plain = Run(argv);
  RunResult run = AllocwatchRun({"--exact", "-o", tiny}, argv);
  std::vector<std::string> files = Recordings(tiny);
  std::string first = files.empty() ? "" : ReadFile(files[0]);
  umount(tiny.c_str());
  INFO(run.Describe());
  CHECK(run.ExitedWith(0));
  CHECK(run.out == plain.out);
  REQUIRE(files.size() == 1);
  // allocwatch says what was lost: either the recording stops early (no end record), or,
  // when the last records fitted after all, the report counts the events that did not.
  const bool stops =
      run.err.find("stops after " + std::to_string(first.size()) +
                   " bytes: writing it failed (file system full") != std::string::npos;
  const bool counted =
      run.err.find("events could not be written to the recording") != std::string::npos;
  CHECK((stops || counted));
  // What could be written is a readable recording cut at a record boundary.
  const std::string copy = dir.path() + "/copy.awtrace";
  WriteFile(copy, first);
  RawRecording raw = ReadRecords(copy);
  CHECK(raw.clean_end);
  CHECK(!raw.warning);
}

// Copies `program` into `dir` owned by `uid` with the set-user-ID bit. False (after a warning)
// when that cannot work here: not root, or the directory is on a nosuid file system.
bool MakeSetuidCopy(const std::string& program, const std::string& copy, uid_t uid) {
  struct statvfs fs {};
  if (geteuid() != 0 ||
      statvfs(Basename(copy) == copy ? "." : copy.substr(0, copy.rfind('/')).c_str(), &fs) != 0 ||
      (fs.f_flag & ST_NOSUID) != 0) {
    WARN("skipped: needs root and a file system without nosuid");
    return false;
  }
  WriteFile(copy, ReadFile(program));
  REQUIRE(chown(copy.c_str(), uid, static_cast<gid_t>(-1)) == 0);
  REQUIRE(chmod(copy.c_str(), 04755) == 0);
  return true;
}

constexpr uid_t kNobody = 65534;

TEST_CASE("allocwatch run: a set-user-ID program gets a clear message and runs", "[run]") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string copy = dir.path() + "/hostile-setuid";
  if (!MakeSetuidCopy(PROGRAM_HOSTILE, copy, kNobody)) return;
  RunResult plain = Run({copy, "args", "x"});
  REQUIRE(plain.ExitedWith(0));
  RunResult run = AllocwatchRun({"-o", dir.Sub("rec")}, {copy, "args", "x"});
  INFO(run.Describe());
  CHECK(run.ExitedWith(0));
  CHECK(run.out == plain.out);
  CHECK(run.err.find("is set-user-ID nobody: the loader runs it in secure-execution mode and "
                     "ignores LD_PRELOAD, so it runs unrecorded") != std::string::npos);
  CHECK(Recordings(dir.Sub("rec")).empty());
}

TEST_CASE("secure execution: the library records nothing and opens no file", "[run]") {
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string rec = dir.Sub("rec");
  chmod(rec.c_str(), 01777);  // writable by the set-user-ID user too
  const std::string copy = dir.path() + "/linked-setuid";
  if (!MakeSetuidCopy(PROGRAM_HOSTILE_LINKED, copy, kNobody)) return;
  RunOptions env;
  env.extra_env = {"ALLOCWATCH_OUTPUT_DIR=" + rec, "ALLOCWATCH_SAMPLE_BYTES=1"};
  // liballocwatch.so is a dependency of this program, so the loader maps it even in secure
  // mode; it must notice AT_SECURE.
  RunResult secure = Run({copy, "args", "x"}, env);
  INFO(secure.Describe());
  CHECK(secure.ExitedWith(0));
  CHECK(secure.err.empty());
  CHECK(Recordings(rec).empty());
  // The same program without the set-user-ID bit does record: the check above can fail.
  REQUIRE(chmod(copy.c_str(), 0755) == 0);
  RunResult normal = Run({copy, "args", "x"}, env);
  CHECK(normal.ExitedWith(0));
  CHECK(normal.out == secure.out);
  CHECK(Recordings(rec).size() == 1);
}

#ifdef PROGRAM_JEMALLOC_API
TEST_CASE("jemalloc's own API: no malloc hook sees it, the mmap hooks show the memory",
          "[hostile][jemalloc]") {
  TempDir dir;
  Matrix m = RunAllModes(dir, {PROGRAM_JEMALLOC_API});
  REQUIRE(m.plain.ExitedWith(0));
  CHECK(m.plain.out == "jemalloc: 16 blocks of 4194304 bytes, 10000 small\n");
  for (const ModeRun* r : {&m.exact, &m.sampled}) {
    report::ProcessModel model = OneCompleteRecording(*r);
    // No recorded allocation is one of the 4 MiB mallocx blocks...
    CHECK(LiveOfSize(r->files[0], 4194304u) == 0);
    CHECK(model.totals.alloc_bytes < 16.0 * 4194304);
    // ...but the mappings jemalloc made for them are recorded, and half of them stay live.
    CHECK(model.totals.mapped_bytes >= 16.0 * 4194304);
    CHECK(model.totals.mapped_live_bytes >= 8.0 * 4194304);
  }
}
#endif

}  // namespace
}  // namespace allocwatch::preload_test
