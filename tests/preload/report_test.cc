// tests/preload/report_test.cc: `allocwatch report` end to end on real programs
// (programs/grower.c): growth, leak kinds, temporaries, pprof (checked with `go tool pprof`),
// folded stacks, suppressions, filters, diff, --follow on a recording being written and
// several processes in one report.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "json_support.h"
#include "nlohmann/json.hpp"
#include "preload_support.h"
#include "report/reader/tail_merge.h"
#include "tools/followed_recordings.h"

extern char** environ;

namespace allocwatch::preload_test {
namespace {

using nlohmann::json;

constexpr int kSteps = 60;           // grower steps, 10 ms apart
constexpr double kLeakSize = 4096;   // grow_leak()
constexpr double kPoolSize = 65536;  // pool_init()

// `allocwatch run --exact --interval 0.02 -o DIR -- grower STEPS LEAK [FORK]`.
void RunGrower(const std::string& dir, int steps, int leak, bool fork = false) {
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND,
                                   "run",
                                   "--exact",
                                   "--interval",
                                   "0.02",
                                   "-o",
                                   dir,
                                   "--report",
                                   dir + "/report.txt",
                                   "--",
                                   PROGRAM_GROWER,
                                   std::to_string(steps),
                                   std::to_string(leak)};
  if (fork) argv.push_back("1");
  RunResult r = Run(argv);
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
}

json ReportJson(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "report", "--format", "json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunJson(argv);
}

std::string GoCommand() {
  for (const char* path : {"/usr/bin/go", "/usr/lib/go/bin/go"}) {
    if (access(path, X_OK) == 0) return path;
  }
  FAIL("go is not installed (tools/setup.sh installs golang-go)");
  return "";
}

TEST_CASE("report: a steady leak is flagged as growing, the pool as held since the start",
          "[report]") {
  TempDir dir;
  RunGrower(dir.path(), kSteps, 1);
  json doc = ReportJson({dir.path()});
  const json& p = doc.at("processes").at(0);

  const json* leak = SiteIn(p.at("leaks"), "grow_leak");
  INFO(p.at("leaks").dump(1));
  REQUIRE(leak != nullptr);
  CHECK(leak->at("live_bytes") == kSteps * kLeakSize);
  CHECK(leak->at("kind") == "growing");
  const json* pool = SiteIn(p.at("leaks"), "pool_init");
  REQUIRE(pool != nullptr);
  CHECK(pool->at("live_bytes") == kPoolSize);
  CHECK(pool->at("kind") == "since_start");

  // Growth: grow_leak first, its series never falls and ends at everything it leaked.
  const json& sites = p.at("growth").at("sites");
  REQUIRE(!sites.empty());
  const json& top = sites.at(0);
  CHECK(top.at("frames").at(top.at("site_frame").get<size_t>()).at("function") == "grow_leak");
  CHECK(top.at("sustained") == true);
  CHECK(top.at("fit").at("slope_bytes_per_s").get<double>() > 0);
  const json& series = top.at("series");
  REQUIRE(series.size() >= 4);
  for (size_t i = 1; i < series.size(); ++i) {
    CHECK(series[i].at(1).get<double>() >= series[i - 1].at(1).get<double>());
    CHECK(series[i].at(0).get<double>() > series[i - 1].at(0).get<double>());
  }
  CHECK(series.back().at(1) == kSteps * kLeakSize);

  // Temporaries: every churn_temp() block was freed at once.
  const json* temp = SiteIn(p.at("temporaries"), "churn_temp");
  INFO(p.at("temporaries").dump(1));
  REQUIRE(temp != nullptr);
  CHECK(temp->at("temporary_count") == kSteps);
  CHECK(temp->at("alloc_count") == kSteps);

  // The text report shows both kinds apart, within 100 columns.
  RunResult text = Run({ALLOCWATCH_COMMAND, "report", "--limit", "1G", dir.path()});
  REQUIRE(text.ExitedWith(0));
  CHECK(text.out.find("Live since the start, not growing") != std::string::npos);
  CHECK(text.out.find("growing +") != std::string::npos);
  CHECK(text.out.find("time to limit") != std::string::npos);
  CHECK(text.out.find("\033[") == std::string::npos);  // not a terminal: no colour
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("recording", 0) == 0) continue;  // a path as long as the temp dir
    INFO(line);
    CHECK(line.size() <= 100);
  }
}

TEST_CASE("report --format pprof: go tool pprof reads it with the right sites and totals",
          "[report]") {
  TempDir dir;
  RunGrower(dir.path(), kSteps, 1);
  std::string profile = dir.path() + "/profile.pb.gz";
  RunResult r = Run({ALLOCWATCH_COMMAND, "report", "--format", "pprof", "-o", profile, dir.path()});
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  json doc = ReportJson({dir.path()});
  const json& totals = doc.at("processes").at(0).at("totals");

  RunOptions go_env;
  go_env.extra_env = {"HOME=" + dir.path(), "GOCACHE=" + dir.Sub("gocache"),
                      "PPROF_TMPDIR=" + dir.Sub("pprof")};
  // inuse_space: the leak and the pool, and the total live at the end.
  RunResult top =
      Run({GoCommand(), "tool", "pprof", "-top", "-unit=B", "-sample_index=inuse_space", profile},
          go_env);
  INFO(top.Describe() << "\n" << top.out);
  REQUIRE(top.ExitedWith(0));
  std::string total_live = std::to_string(totals.at("live_bytes").get<int64_t>() +
                                          totals.at("mapped_live_bytes").get<int64_t>());
  CHECK(top.out.find("of " + total_live + "B total") != std::string::npos);
  CHECK(top.out.find("grow_leak") != std::string::npos);
  CHECK(top.out.find("pool_init") != std::string::npos);
  CHECK(top.out.find("Type: inuse_space") != std::string::npos);
  // The main binary's mapping carries its build-id (pprof prints it in the header).
  std::string build_id;
  for (const json& mod : doc.at("processes").at(0).at("process").at("modules")) {
    if (mod.at("path") == PROGRAM_GROWER) build_id = mod.at("build_id");
  }
  REQUIRE(!build_id.empty());
  CHECK(top.out.find("Build ID: " + build_id) != std::string::npos);

  // alloc_objects: every call (and mmap call) over the run.
  RunResult objects =
      Run({GoCommand(), "tool", "pprof", "-top", "-sample_index=alloc_objects", profile}, go_env);
  INFO(objects.out);
  REQUIRE(objects.ExitedWith(0));
  std::string total_calls = std::to_string(totals.at("alloc_count").get<int64_t>() +
                                           totals.at("mmap_calls").get<int64_t>());
  CHECK(objects.out.find("of " + total_calls + " total") != std::string::npos);
  CHECK(objects.out.find("churn_temp") != std::string::npos);
}

TEST_CASE("report --format folded: root-first stacks of one metric", "[report]") {
  TempDir dir;
  RunGrower(dir.path(), 20, 1);
  RunResult r = Run(
      {ALLOCWATCH_COMMAND, "report", "--format", "folded", "--metric", "inuse_space", dir.path()});
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  bool found = false;
  double sum = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    sum += std::stod(line.substr(space + 1));
    if (line.find("main;grow_leak") != std::string::npos) {
      found = true;
      CHECK(line.substr(space + 1) == std::to_string(20 * 4096));
    }
  }
  CHECK(found);
  json doc = ReportJson({dir.path()});
  const json& totals = doc.at("processes").at(0).at("totals");
  CHECK(sum ==
        totals.at("live_bytes").get<double>() + totals.at("mapped_live_bytes").get<double>());
}

TEST_CASE("report --suppressions, --thread, --until and bad options", "[report]") {
  TempDir dir;
  RunGrower(dir.path(), 20, 1);
  std::string supp = dir.path() + "/known.supp";
  WriteFile(supp, "# known\nleak:grow_leak\n");
  json doc = ReportJson({"--suppressions", supp, dir.path()});
  const json& p = doc.at("processes").at(0);
  CHECK(SiteIn(p.at("leaks"), "grow_leak") == nullptr);
  CHECK(SiteIn(p.at("leaks"), "pool_init") != nullptr);
  CHECK(p.at("suppressed").at("live_bytes") == 20 * 4096);

  // Totals keep suppressed stacks.
  CHECK(p.at("totals").at("live_bytes") == 20 * 4096 + kPoolSize);

  // --thread: the main thread's tid is the pid (the only thread); another tid keeps nothing.
  int64_t pid = p.at("process").at("pid");
  json mine = ReportJson({"--thread", std::to_string(pid), dir.path()});
  CHECK(mine.at("processes").at(0).at("totals").at("live_bytes") == 20 * 4096 + kPoolSize);
  CHECK(SiteIn(mine.at("processes").at(0).at("leaks"), "grow_leak") != nullptr);
  json other = ReportJson({"--thread", std::to_string(pid + 1000000), dir.path()});
  CHECK(other.at("processes").at(0).at("totals").at("alloc_count") == 0);
  CHECK(other.at("processes").at(0).at("warnings").dump().find("made no recorded allocation") !=
        std::string::npos);

  // --until 0: nothing allocated yet after the start.
  json early = ReportJson({"--until", "0", dir.path()});
  CHECK(early.at("processes").at(0).at("totals").at("alloc_count") == 0);

  for (std::vector<std::string> bad : {std::vector<std::string>{"--limit", "lots"},
                                       {"--suppressions", "/nonexistent"},
                                       {"--since", "-1"},
                                       {"--since", "2", "--until", "1"},
                                       {"--metric", "bogus"}}) {
    std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "report"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    argv.push_back(dir.path());
    RunResult r = Run(argv);
    INFO(bad.at(0) << " " << bad.at(1) << ": " << r.Describe());
    CHECK_FALSE(r.ExitedWith(0));
    CHECK(!r.err.empty());
  }
}

TEST_CASE("diff: the build that leaks shows the site that started growing", "[report]") {
  TempDir base, next;
  RunGrower(base.path(), kSteps, 0);
  RunGrower(next.path(), kSteps, 1);
  RunResult text = Run({ALLOCWATCH_COMMAND, "diff", base.path(), next.path()});
  INFO(text.Describe() << text.out);
  REQUIRE(text.ExitedWith(0));
  CHECK(text.out.find("started growing") != std::string::npos);
  RunResult j = Run({ALLOCWATCH_COMMAND, "diff", "--format", "json", base.path(), next.path()});
  REQUIRE(j.ExitedWith(0));
  json doc = json::parse(j.out);
  const json& first = doc.at("sites").at(0);
  CHECK(first.at("frames").at(first.at("site_frame").get<size_t>()).at("function") == "grow_leak");
  CHECK(first.at("started_growing") == true);
  CHECK(first.at("live_bytes_change") == kSteps * kLeakSize);
}

// Starts `grower 300 1` (3 s or more) recorded in exact mode into `dir` with the preload,
// without waiting for it; returns its pid once its recording exists (bounded wait).
pid_t StartRecordedGrower(const std::string& dir) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    if (v.rfind("LD_PRELOAD=", 0) == 0 || v.rfind("ALLOCWATCH_", 0) == 0) continue;
    env_strings.push_back(v);
  }
  env_strings.push_back(std::string("LD_PRELOAD=") + PRELOAD_LIBRARY);
  env_strings.push_back("ALLOCWATCH_SAMPLE_BYTES=1");
  env_strings.push_back("ALLOCWATCH_OUTPUT_DIR=" + dir);
  env_strings.push_back("ALLOCWATCH_INTERVAL_MS=20");
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string prog = PROGRAM_GROWER, steps = "300", leak = "1";
  char* argv[] = {prog.data(), steps.data(), leak.data(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, prog.c_str(), nullptr, nullptr, argv, envp.data()) != 0) return -1;
  for (int i = 0; i < 500 && Recordings(dir).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pid;
}

TEST_CASE("report on a recording being written, and --follow until the process ends", "[report]") {
  TempDir dir;
  pid_t pid = StartRecordedGrower(dir.path());
  REQUIRE(pid > 0);
  // Report on it while the program runs.
  RunResult once = Run({ALLOCWATCH_COMMAND, "report", dir.path()});
  RunResult follow =
      Run({ALLOCWATCH_COMMAND, "report", "--follow", "--interval", "0.2", dir.path()});
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  INFO(once.Describe() << once.out);
  CHECK(once.ExitedWith(0));
  CHECK(once.out.find("still running") != std::string::npos);
  INFO(follow.Describe() << follow.out.substr(0, 3000));
  CHECK(follow.ExitedWith(0));
  // Several renders: the first while running, the last after the exit.
  size_t renders = 0;
  for (size_t at = 0; (at = follow.out.find("== allocwatch:", at)) != std::string::npos; ++at) {
    ++renders;
  }
  CHECK(renders >= 2);
  CHECK(follow.out.find("still running") != std::string::npos);
  CHECK(follow.out.find("ended by exit()") != std::string::npos);
  CHECK(follow.out.find("no recorded process is running any more") != std::string::npos);
}

// What allocwatch run's background replay and report --follow do when the followed process is
// killed: the tail is merged into the recording, and the replay goes on from where it was.
TEST_CASE("a followed recording is read on, not anew, after its killed process's tail is merged",
          "[report]") {
  TempDir dir;
  pid_t pid = StartRecordedGrower(dir.path());
  REQUIRE(pid > 0);
  std::vector<std::string> files = Recordings(dir.path());
  REQUIRE(files.size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  tools::FollowedRecordings followed;
  followed.Update(files[0]);
  REQUIRE(followed.Has(files[0]));
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));

  report::TailMerge merge = report::MergeTail(files[0]);
  REQUIRE(merge.outcome == report::TailMerge::Outcome::kMerged);
  followed.Merged(files[0], merge.appended_at, merge.torn_bytes > 0);
  // Kept (read on) unless the merge cut back a torn record.
  CHECK(followed.Has(files[0]) == (merge.torn_bytes == 0));
  std::shared_ptr<report::ProcessModel> model = followed.Model(files[0]);
  // The same as a first read of the merged file.
  report::ProcessModel fresh = report::LoadProcess(files[0]);
  CHECK(model->ending == report::Ending::kCutShort);
  CHECK(model->recovered.merged);
  CHECK(model->recovered.events == fresh.recovered.events);
  CHECK(model->totals.alloc_count > 20);  // about 60 in its first 300 ms
  CHECK(model->totals.alloc_count == fresh.totals.alloc_count);
  CHECK(model->totals.live_bytes == fresh.totals.live_bytes);
  CHECK(model->totals.live_count == fresh.totals.live_count);
  CHECK(model->snapshots.size() == fresh.snapshots.size());
}

TEST_CASE("several recordings: a section per process and a combined total", "[report]") {
  TempDir dir;
  RunGrower(dir.path(), 20, 1, /*fork=*/true);
  REQUIRE(Recordings(dir.path()).size() == 2);
  json doc = ReportJson({dir.path()});
  REQUIRE(doc.at("processes").size() == 2);
  int64_t sum = 0;
  for (const json& p : doc.at("processes")) sum += p.at("totals").at("live_bytes").get<int64_t>();
  const json& combined = doc.at("combined");
  CHECK(combined.at("processes") == 2);
  CHECK(combined.at("totals").at("live_bytes") == sum);
  // Both processes leaked 20 blocks at grow_leak (the child's pool is the parent's, inherited).
  const json* leak = SiteIn(combined.at("leaks"), "grow_leak");
  REQUIRE(leak != nullptr);
  CHECK(leak->at("live_bytes") == 2 * 20 * 4096);
  RunResult text = Run({ALLOCWATCH_COMMAND, "report", dir.path()});
  REQUIRE(text.ExitedWith(0));
  CHECK(text.out.find("== allocwatch: all 2 processes ==") != std::string::npos);
}

}  // namespace
}  // namespace allocwatch::preload_test
