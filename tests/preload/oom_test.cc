// tests/preload/oom_test.cc: the end of a process that is killed. A real memory cgroup OOM kill
// under `allocwatch run` (where the machine allows creating a cgroup), and a SIGKILL at a
// random moment in the middle of a stream of failures.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "preload/procfs/cgroup_reader.h"
#include "preload_support.h"

extern char** environ;

namespace allocwatch::preload_test {
namespace {

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// A child memory cgroup of this process's own, limited to `limit` bytes, removed on
// destruction. ok() is false (with why()) when the machine does not allow it.
class TestCgroup {
 public:
  explicit TestCgroup(uint64_t limit) {
    if (geteuid() != 0) {
      why_ = "not root";
      return;
    }
    auto cg = std::make_unique<preload::CgroupReading>();
    preload::ReadCgroup("", cg.get());
    if (cg->version == format::kCgroupNone) {
      why_ = "no memory cgroup hierarchy";
      return;
    }
    v1_ = cg->version == format::kCgroupV1;
    dir_ = std::string(cg->dir) + "/allocwatch_oom_test_" + std::to_string(getpid());
    if (!v1_ && !WriteText(std::string(cg->dir) + "/cgroup.subtree_control", "+memory")) {
      why_ = "cannot enable the memory controller below " + std::string(cg->dir);
      return;
    }
    if (mkdir(dir_.c_str(), 0755) != 0) {
      why_ = "cannot create " + dir_ + ": " + std::strerror(errno);
      dir_.clear();
      return;
    }
    std::string l = std::to_string(limit);
    bool set =
        v1_ ? WriteText(dir_ + "/memory.limit_in_bytes", l) : WriteText(dir_ + "/memory.max", l);
    // No swap either, so the limit ends in a kill rather than in swapping.
    if (v1_ && access((dir_ + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0) {
      WriteText(dir_ + "/memory.memsw.limit_in_bytes", l);
    }
    if (!v1_ && access((dir_ + "/memory.swap.max").c_str(), F_OK) == 0) {
      WriteText(dir_ + "/memory.swap.max", "0");
    }
    if (!set) why_ = "cannot set the memory limit of " + dir_;
  }
  ~TestCgroup() {
    if (dir_.empty()) return;
    for (int i = 0; i < 50 && rmdir(dir_.c_str()) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  const std::string& dir() const { return dir_; }

 private:
  bool v1_ = false;
  std::string dir_;
  std::string why_;
};

TEST_CASE("allocwatch run reports an OOM kill in a memory cgroup and what was growing", "[oom]") {
  TestCgroup cgroup(64 << 20);
  if (!cgroup.ok()) {
    WARN("skipped: a memory cgroup cannot be created here (" << cgroup.why() << ")");
    return;
  }
  TempDir dir;
  const std::string report = dir.path() + "/report.txt";
  // The shell joins the cgroup, then becomes allocwatch, which runs the program in it.
  std::string script =
      "echo $$ > " + cgroup.dir() +
      "/cgroup.procs && exec \"$0\" run --interval 0.05 -o \"$1\" --report \"$2\" -- \"$3\" 2048";
  RunOptions options;
  options.timeout_seconds = 60;
  RunResult run = Run({"/bin/sh", "-c", script, ALLOCWATCH_COMMAND, dir.Sub("rec"), report,
                       PROGRAM_GROW_UNTIL_KILLED},
                      options);
  INFO(run.Describe());
  REQUIRE(!run.timed_out);
  // allocwatch dies the way its program died.
  REQUIRE(WIFSIGNALED(run.status));
  CHECK(WTERMSIG(run.status) == SIGKILL);
  std::string text = ReadFile(report);
  INFO("report:\n" << text);
  CHECK(text.find("program was killed by the OOM killer") != std::string::npos);
  CHECK(text.find("evidence: memory cgroup") != std::string::npos);
  size_t before_end = text.find("Before the end");
  REQUIRE(before_end != std::string::npos);
  CHECK(text.find("growing since", before_end) != std::string::npos);
  CHECK(text.find("grow_step", before_end) != std::string::npos);
  CHECK(text.find("last snapshots", before_end) != std::string::npos);
}

// The case: a single-threaded program in the default (sampled) mode that keeps 50 KiB
// per step from one site and churns from another, killed within a fraction of a second. With
// no thread of its own, only the tail file and the brink records tell what it held.
TEST_CASE("allocwatch run names the growing site and its live bytes at the brink of an OOM kill",
          "[oom]") {
  constexpr uint64_t kLimit = 64 << 20;
  TestCgroup cgroup(kLimit);
  if (!cgroup.ok()) {
    WARN("skipped: a memory cgroup cannot be created here (" << cgroup.why() << ")");
    return;
  }
  TempDir dir;
  const std::string report = dir.path() + "/report.txt";
  const std::string json = dir.path() + "/report.json";
  std::string script = "echo $$ > " + cgroup.dir() +
                       "/cgroup.procs && exec \"$0\" run -o \"$1\" --report \"$2\" -- \"$3\" grow";
  RunOptions options;
  options.timeout_seconds = 60;
  RunResult run =
      Run({"/bin/sh", "-c", script, ALLOCWATCH_COMMAND, dir.Sub("rec"), report, PROGRAM_BRINK},
          options);
  INFO(run.Describe());
  REQUIRE(!run.timed_out);
  REQUIRE(WIFSIGNALED(run.status));
  CHECK(WTERMSIG(run.status) == SIGKILL);
  std::string text = ReadFile(report);
  INFO("report:\n" << text);
  CHECK(text.find("program was killed by the OOM killer") != std::string::npos);
  CHECK(text.find("recovered   ") != std::string::npos);
  CHECK(text.find("holds what it did up to the kill") != std::string::npos);
  CHECK(text.find("what it did after its last record is lost") == std::string::npos);
  size_t before_end = text.find("Before the end");
  REQUIRE(before_end != std::string::npos);
  size_t brink = text.find("the headroom under the memory cgroup fell below 10 %", before_end);
  REQUIRE(brink != std::string::npos);
  size_t first = text.find(" 1. ", brink);
  REQUIRE(first != std::string::npos);
  CHECK(text.find("grow_site", first) < text.find(" 2. ", first));

  // The recording (its tail merged by allocwatch run) holds the run up to the kill.
  std::vector<std::string> files = Recordings(dir.path() + "/rec");
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.ending == report::Ending::kCutShort);
  CHECK(model.recovered.merged);
  CHECK(model.duration_ns > 0);
  CHECK(model.totals.alloc_count > 10000);
  REQUIRE(!model.brinks.empty());
  const report::Brink& b = model.brinks.front();
  CHECK(b.record.kind == format::kBrinkCgroup);
  CHECK(b.record.percent == 10);
  CHECK(b.record.limit_bytes == kLimit);
  Sites sites(model);
  double grow = 0;
  double grow_var = 0;
  for (const report::Site& s : report::GroupSites(model, b.live, sites.symbolizer(),
                                                  report::Grouping::kFirstOutsideRuntime)) {
    if (SiteFrame(s).function == "grow_site") {
      grow += s.figures.live_bytes;
      grow_var += s.figures.live_bytes_var;
    }
  }
  // The cgroup charged about 90 % of 64 MiB then; most of it was grow_site's (the rest: the
  // program's and allocwatch's own pages, page cache). The figure is a sampled estimate: it may
  // exceed the usage by its sampling error (4 standard deviations: about 22 MiB here).
  const auto usage = static_cast<double>(kLimit - b.record.headroom_bytes);
  const double sigma = std::sqrt(grow_var);
  INFO("grow_site live at the brink: " << grow << " (sd " << sigma << "), usage " << usage);
  CHECK(sigma > 0);
  CHECK(grow > 0.5 * usage);
  CHECK(grow < usage + 4 * sigma);
}

TEST_CASE("a recording killed by SIGKILL holds every failure written before the kill",
          "[sigkill]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  const std::string dots = dir.path() + "/stdout";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string s = *e;
    if (s.rfind("LD_PRELOAD=", 0) != 0 && s.rfind("ALLOCWATCH_", 0) != 0) env_strings.push_back(s);
  }
  env_strings.push_back(std::string("LD_PRELOAD=") + PRELOAD_LIBRARY);
  env_strings.push_back("ALLOCWATCH_OUTPUT_DIR=" + out_dir);
  env_strings.push_back("ALLOCWATCH_SAMPLE_BYTES=1");
  env_strings.push_back("ALLOCWATCH_INTERVAL_MS=5");
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string program = PROGRAM_ENOMEM_CAUSES, arg = "repeat";
  char* argv[] = {program.data(), arg.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, dots.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data()) == 0);
  posix_spawn_file_actions_destroy(&actions);
  // A random moment: the checks hold whenever the kill lands.
  std::mt19937 rng(std::random_device{}());
  int delay_ms = std::uniform_int_distribution<int>(30, 300)(rng);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  uint64_t returned = ReadFile(dots).size();  // failed calls that had returned to the program
  INFO("killed after " << delay_ms << " ms, " << returned << " failures returned");

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.ending == report::Ending::kCutShort);
  // Nothing is damaged except, at most, a record cut by the kill at the very end.
  for (const std::string& w : model.warnings) CHECK(w.find("truncated") != std::string::npos);
  CHECK(model.failures.size() >= returned);
  CHECK(model.failures.size() <= returned + 1);
  size_t with_headroom = 0;
  for (const report::Failure& f : model.failures) {
    CHECK(f.call == format::Call::kMalloc);
    CHECK(f.args[0] == SIZE_MAX);
    with_headroom += f.headroom.has_value() ? 1 : 0;
  }
  // Each failure that returned was written with its headroom in the same write.
  CHECK(with_headroom >= returned);
}

}  // namespace
}  // namespace allocwatch::preload_test
