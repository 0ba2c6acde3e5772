// tests/preload/preload_support.cc: see preload_support.h.
#include "preload_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

extern char** environ;

namespace allocwatch::preload_test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                        "/allocwatch-preload-test.XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    FAIL("mkdtemp " << pattern << ": " << std::strerror(errno));
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  if (std::getenv("ALLOCWATCH_TEST_KEEP") != nullptr) {
    std::fprintf(stderr, "keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::Sub(const std::string& name) const {
  std::string sub = path_ + "/" + name;
  std::error_code ec;
  fs::create_directories(sub, ec);
  return sub;
}

bool RunResult::ExitedWith(int code) const {
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

std::string RunResult::Describe() const {
  std::ostringstream s;
  s << "pid " << pid << ", ";
  if (timed_out) {
    s << "timed out";
  } else if (WIFEXITED(status)) {
    s << "exited with " << WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s << "killed by signal " << WTERMSIG(status);
  } else {
    s << "wait status " << status;
  }
  s << "\nstderr:\n" << err;
  return s.str();
}

namespace {

std::vector<std::string> Environment(const RunOptions& options) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.rfind("LD_PRELOAD=", 0) == 0 || entry.rfind("ALLOCWATCH_", 0) == 0) continue;
    env.push_back(entry);
  }
  if (options.preload) {
    env.push_back(std::string("LD_PRELOAD=") + PRELOAD_LIBRARY);
    env.push_back("ALLOCWATCH_SAMPLE_BYTES=" + std::to_string(options.sample_bytes));
    env.push_back("ALLOCWATCH_OUTPUT_DIR=" + options.output_dir);
    env.push_back("ALLOCWATCH_INTERVAL_MS=" + std::to_string(options.interval_ms));
  }
  for (const std::string& e : options.extra_env) env.push_back(e);
  return env;
}

void SleepMs(long ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

}  // namespace

RunOptions Exact(const std::string& output_dir) {
  RunOptions options;
  options.preload = true;
  options.output_dir = output_dir;
  return options;
}

RunResult Run(const std::vector<std::string>& argv, const RunOptions& options) {
  RunResult result;
  TempDir io;
  const std::string out_path = io.path() + "/stdout";
  const std::string err_path = io.path() + "/stderr";

  std::vector<std::string> env = Environment(options);
  std::vector<std::string> args = argv;
  std::vector<char*> envp, argp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (std::string& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  // Default dispositions and an empty mask, whatever the test runner set up.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argp[0], &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) FAIL("posix_spawn " << argv[0] << ": " << std::strerror(rc));
  result.pid = pid;

  const long step_ms = 2;
  long waited_ms = 0;
  for (;;) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      result.status = status;
      break;
    }
    if (got < 0 && errno != EINTR) FAIL("waitpid: " << std::strerror(errno));
    if (waited_ms >= options.timeout_seconds * 1000L) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.status = status;
      result.timed_out = true;
      break;
    }
    SleepMs(step_ms);
    waited_ms += step_ms;
  }

  struct stat st {};
  if (stat(out_path.c_str(), &st) == 0)
    result.stdout_blksize = static_cast<uint64_t>(st.st_blksize);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  if (result.timed_out)
    FAIL(argv[0] << " did not finish within " << options.timeout_seconds << " s");
  return result;
}

std::vector<std::string> Recordings(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".awtrace") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

OneRecordingRun RunForOneRecording(const std::vector<std::string>& argv,
                                   const RunOptions& options) {
  OneRecordingRun out;
  out.run = Run(argv, options);
  INFO(out.run.Describe());
  REQUIRE(out.run.ExitedWith(0));
  std::vector<std::string> files = Recordings(options.output_dir);
  REQUIRE(files.size() == 1);
  out.recording = files[0];
  return out;
}

int MarkerLine(const std::string& file, const std::string& marker) {
  std::ifstream stream(std::string(PRELOAD_PROGRAMS_SOURCE_DIR) + "/" + file);
  const std::string needle = "// @" + marker;
  std::string line;
  for (int number = 1; std::getline(stream, line); ++number) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.size() >= needle.size() &&
        line.compare(line.size() - needle.size(), needle.size(), needle) == 0) {
      return number;
    }
  }
  FAIL("no marker // @" << marker << " in programs/" << file);
  return 0;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

RawRecording ReadRecords(const std::string& path) {
  RawRecording out;
  report::RecordingReader reader(path);
  while (auto r = reader.Next()) out.records.push_back(std::move(*r));
  out.warning = reader.warning();
  out.clean_end = reader.clean_end();
  return out;
}

std::vector<format::LiveEntry> LiveEntries(const RawRecording& recording) {
  std::vector<format::LiveEntry> entries;
  for (const report::RawRecord& r : recording.records) {
    if (r.type != format::RecordType::kLive) continue;
    auto live = As<format::LiveRecord>(r);
    REQUIRE(sizeof(live) + uint64_t{live.count} * sizeof(format::LiveEntry) <= r.bytes.size());
    for (uint32_t i = 0; i < live.count; ++i) {
      format::LiveEntry e{};
      std::memcpy(&e, r.bytes.data() + sizeof(live) + i * sizeof(e), sizeof(e));
      entries.push_back(e);
    }
  }
  return entries;
}

Sites::Sites(const report::ProcessModel& model)
    : model_(model),
      symbols_(std::make_unique<report::StackSymbolizer>(symbolize::Options{}, true)) {
  sites_ =
      report::GroupSites(model, model.per_stack, *symbols_, report::Grouping::kFirstOutsideRuntime);
}

Sites::~Sites() = default;

const report::DisplayFrame& SiteFrame(const report::Site& site) {
  static const report::DisplayFrame kNone;
  return site.site_frame < site.frames.size() ? site.frames[site.site_frame] : kNone;
}

std::vector<const report::Site*> Sites::Of(const std::string& function) const {
  std::vector<const report::Site*> out;
  for (const report::Site& s : sites_) {
    if (SiteFrame(s).function == function) out.push_back(&s);
  }
  return out;
}

report::SiteFigures Sites::Sum(const std::string& function) const {
  report::SiteFigures sum;
  for (const report::Site* s : Of(function)) sum.Add(s->figures);
  return sum;
}

const report::Site* Sites::At(const std::string& function, int line) const {
  const report::Site* found = nullptr;
  for (const report::Site* s : Of(function)) {
    if (SiteFrame(*s).line != line) continue;
    if (found != nullptr) FAIL("two sites in " << function << " at line " << line);
    found = s;
  }
  return found;
}

std::set<std::string> Sites::Functions() const {
  std::set<std::string> out;
  for (const report::Site& s : sites_) out.insert(SiteFrame(s).function);
  return out;
}

std::vector<report::DisplayFrame> Sites::Frames(report::StackId stack) {
  return symbols_->Frames(model_, stack);
}

bool HasFunction(const std::vector<report::DisplayFrame>& frames, const std::string& function) {
  return std::any_of(frames.begin(), frames.end(),
                     [&](const report::DisplayFrame& f) { return f.function == function; });
}

bool HasFunctionContaining(const std::vector<report::DisplayFrame>& frames,
                           const std::string& part) {
  return std::any_of(frames.begin(), frames.end(), [&](const report::DisplayFrame& f) {
    return f.function.find(part) != std::string::npos;
  });
}

std::string DescribeFrames(const std::vector<report::DisplayFrame>& frames) {
  std::string out;
  for (const report::DisplayFrame& f : frames) {
    out += "  " + report::DescribeFrame(f) + (f.runtime ? " [runtime]" : "") + "\n";
  }
  return out;
}

std::string DescribeSites(const std::vector<report::Site>& sites) {
  std::ostringstream s;
  for (const report::Site& site : sites) {
    const report::SiteFigures& f = site.figures;
    s << "  " << report::DescribeFrame(SiteFrame(site)) << ": alloc " << f.alloc_count << " / "
      << f.alloc_bytes << " B, live " << f.live_count << " / " << f.live_bytes << " B, mapped "
      << f.mapped_bytes << " B (live " << f.mapped_live_bytes << " B, " << f.mmap_calls
      << " calls)\n";
  }
  return s.str();
}

}  // namespace allocwatch::preload_test
