// tests/preload/process_test.cc: fork, exec and a failing malloc under the preload; recordings
// named after the executable, whatever argv says.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <filesystem>

#include "preload_support.h"
#include "report/analysis/analysis.h"
#include "report/analysis/failed_call.h"

namespace allocwatch::preload_test {
namespace {

using report::Ending;

TEST_CASE("fork: parent and child each get a recording with their own leaks", "[fork]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.extra_env = {"ALLOCWATCH_SESSION=4711"};
  RunResult run = Run({PROGRAM_FORKING}, options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));  // the program checks that the child exited with 0
  REQUIRE(run.out.rfind("child ", 0) == 0);
  const uint32_t child_pid = static_cast<uint32_t>(std::stoul(run.out.substr(6)));

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 2);
  report::ProcessModel a = report::LoadProcess(files[0]);
  report::ProcessModel b = report::LoadProcess(files[1]);
  const bool a_is_parent = a.pid == static_cast<uint32_t>(run.pid);
  report::ProcessModel& parent = a_is_parent ? a : b;
  report::ProcessModel& child = a_is_parent ? b : a;

  SECTION("process records") {
    CHECK(parent.pid == static_cast<uint32_t>(run.pid));
    CHECK(parent.ppid == static_cast<uint32_t>(getpid()));
    CHECK_FALSE(parent.fork_child);
    CHECK(child.pid == child_pid);
    CHECK(child.ppid == parent.pid);
    CHECK(child.fork_child);
    CHECK(child.exact);
    CHECK(parent.session_id == 4711);
    CHECK(child.session_id == 4711);
    CHECK(Basename(child.path) == "forking." + std::to_string(child_pid) + ".awtrace");
    CHECK(parent.ending == Ending::kExit);
    CHECK(child.ending == Ending::kUnderscoreExit);  // the child ends with _exit(0)
    CHECK(child.exit_status == 0);
    CHECK(parent.warnings.empty());
    CHECK(child.warnings.empty());
  }

  SECTION("the parent shows only its own sites") {
    Sites sites(parent);
    INFO("parent sites:\n" << DescribeSites(sites.all()));
    report::SiteFigures leak = sites.Sum("parent_leak");
    CHECK(leak.live_count == 3);
    CHECK(leak.live_bytes == 3 * 1111);
    report::SiteFigures after = sites.Sum("parent_after_fork");
    CHECK(after.alloc_count == 1);
    CHECK(after.alloc_bytes == 3333);
    CHECK(after.live_count == 0);
    CHECK(sites.Of("child_leak").empty());
    // Plus the stdout buffer of the printf in main.
    CHECK(sites.Functions() == std::set<std::string>{"parent_leak", "parent_after_fork", "main"});
    CHECK(parent.totals.live_count == 3 + 1);
    CHECK(parent.totals.live_bytes == 3 * 1111 + static_cast<double>(run.stdout_blksize));
  }

  SECTION("the child shows only its own sites, not the blocks it inherited") {
    Sites sites(child);
    INFO("child sites:\n" << DescribeSites(sites.all()));
    report::SiteFigures leak = sites.Sum("child_leak");
    CHECK(leak.live_count == 5);
    CHECK(leak.live_bytes == 5 * 2222);
    CHECK(sites.Of("parent_leak").empty());
    CHECK(sites.Of("parent_after_fork").empty());
    CHECK(sites.Functions() == std::set<std::string>{"child_leak"});
    CHECK(child.totals.alloc_count == 5);
    CHECK(child.totals.live_count == 5);
    CHECK(child.totals.live_bytes == 5 * 2222);
    // The parent's buffered events, copied into the child by fork, are not in its recording.
    CHECK(child.unknown_frees == 0);
  }
}

// Without the unwind gate (preload/hooks/unwind_gate.h) a child forked while the other thread
// held libunwind's cache mutex waited for it forever (the program then prints "hung"): in each
// of the five runs tried, within its first 110 forks.
TEST_CASE("fork: a child forked while another thread unwinds can unwind too", "[fork]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.timeout_seconds = 240;
  RunResult run = Run({PROGRAM_FORK_UNWINDING}, options);
  INFO(run.Describe());
  CHECK(run.out == "forks done\n");
  REQUIRE(run.ExitedWith(0));
  CHECK(Recordings(out_dir).size() == 151);  // the parent and its 150 children
}

TEST_CASE("allocwatch run says nothing is missing from a recording that ends with an exec",
          "[exec]") {
  TempDir dir;
  RunResult run = Run({ALLOCWATCH_COMMAND, "run", "--no-report", "-o", dir.path(), "--",
                       PROGRAM_EXEC_FIRST, PROGRAM_EXEC_TARGET});
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  CHECK(Recordings(dir.path()).size() == 2);
  CHECK(run.err.find("no end record") == std::string::npos);
  CHECK(run.err.find("was killed") == std::string::npos);
}

TEST_CASE("exec: the old image's recording ends with the exec, the new one has its own", "[exec]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({PROGRAM_EXEC_FIRST, PROGRAM_EXEC_TARGET}, Exact(out_dir));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  CHECK(run.out == "exec target done\n");

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 2);
  // Sorted by name: exec_first.PID.awtrace, exec_target.PID.awtrace (one pid for both).
  const std::string pid = std::to_string(run.pid);
  CHECK(Basename(files[0]) == "exec_first." + pid + ".awtrace");
  CHECK(Basename(files[1]) == "exec_target." + pid + ".awtrace");
  report::ProcessModel first = report::LoadProcess(files[0]);
  report::ProcessModel second = report::LoadProcess(files[1]);

  SECTION("the first image") {
    CHECK(first.pid == static_cast<uint32_t>(run.pid));
    CHECK(first.ending == Ending::kExec);
    CHECK(first.exec_path == PROGRAM_EXEC_TARGET);
    CHECK(first.argv == std::vector<std::string>{PROGRAM_EXEC_FIRST, PROGRAM_EXEC_TARGET});
    CHECK(first.warnings.empty());
    Sites sites(first);
    INFO("sites:\n" << DescribeSites(sites.all()));
    CHECK(sites.Functions() == std::set<std::string>{"before_exec_leak"});
    report::SiteFigures leak = sites.Sum("before_exec_leak");
    CHECK(leak.live_count == 2);
    CHECK(leak.live_bytes == 2 * 4321);
    // No end record: the image was replaced, there was no exit and no live list.
    RawRecording raw = ReadRecords(files[0]);
    CHECK(raw.clean_end);
    REQUIRE(!raw.records.empty());
    CHECK(raw.records.back().type == format::RecordType::kExec);
  }

  SECTION("the new image") {
    CHECK(second.pid == static_cast<uint32_t>(run.pid));
    CHECK(second.ppid == static_cast<uint32_t>(getpid()));
    CHECK_FALSE(second.fork_child);
    CHECK(second.ending == Ending::kExit);
    CHECK(second.exec_path.empty());
    CHECK(second.argv == std::vector<std::string>{PROGRAM_EXEC_TARGET});
    CHECK(second.exe == std::filesystem::canonical(PROGRAM_EXEC_TARGET).string());
    Sites sites(second);
    INFO("sites:\n" << DescribeSites(sites.all()));
    CHECK(sites.Of("before_exec_leak").empty());
    report::SiteFigures leak = sites.Sum("target_leak");
    CHECK(leak.live_count == 7);
    CHECK(leak.live_bytes == 7 * 123);
    // Plus the stdout buffer of the printf in main.
    CHECK(sites.Functions() == std::set<std::string>{"target_leak", "main"});
    CHECK(second.totals.live_count == 7 + 1);
  }
}

TEST_CASE("exec: after a failed exec the process goes on recording", "[exec]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  const std::string missing = dir.path() + "/no-such-program";
  RunResult run = Run({PROGRAM_EXEC_FIRST, missing}, Exact(out_dir));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(5));  // execv failed with ENOENT, as without the preload

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  // The exec record written before the attempt is followed by more events and the end record.
  CHECK(model.ending == Ending::kExit);
  CHECK(model.warnings.empty());
  Sites sites(model);
  INFO("sites:\n" << DescribeSites(sites.all()));
  CHECK(sites.Functions() == std::set<std::string>{"before_exec_leak", "after_failed_exec_leak"});
  CHECK(sites.Sum("before_exec_leak").live_bytes == 2 * 4321);
  CHECK(sites.Sum("after_failed_exec_leak").live_bytes == 555);
  CHECK(model.totals.live_count == 3);
}

TEST_CASE("a failed malloc is recorded with ENOMEM and the calling function", "[failure]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({PROGRAM_FAILING_MALLOC}, Exact(out_dir));
  INFO(run.Describe());
  // The program checks that malloc returned NULL and errno is still ENOMEM after the hook.
  REQUIRE(run.ExitedWith(0));

  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.ending == Ending::kExit);
  CHECK(model.totals.alloc_count == 0);  // nothing else is allocated: no output on success
  REQUIRE(model.failures.size() == 1);
  const report::Failure& f = model.failures[0];
  CHECK(f.call == format::Call::kMalloc);
  CHECK(f.error == ENOMEM);
  CHECK(f.result == -1);
  CHECK(f.args[0] == SIZE_MAX / 2);
  CHECK(f.tid == model.pid);
  CHECK(report::FailureSize(f) == SIZE_MAX / 2);
  CHECK(report::ErrnoName(f.error) == "ENOMEM");

  Sites sites(model);
  std::vector<report::DisplayFrame> frames = sites.Frames(f.stack);
  INFO("frames:\n" << DescribeFrames(frames));
  REQUIRE(!frames.empty());
  // The innermost frame is the caller of malloc (liballocwatch's own frames are dropped).
  CHECK(frames[0].function == "fail_big_malloc");
  CHECK(Basename(frames[0].file) == "failing_malloc.c");
  CHECK(frames[0].line == MarkerLine("failing_malloc.c", "fail_big_malloc"));
  CHECK(HasFunction(frames, "main"));
  for (const report::DisplayFrame& frame : frames) {
    CHECK(Basename(frame.module).rfind("liballocwatch", 0) != 0);
  }

  // The report groups it as one failure with these frames.
  report::ProcessReport built = report::BuildReport(model, sites.symbolizer(), {});
  REQUIRE(built.failures.size() == 1);
  CHECK(built.failures[0].count == 1);
  CHECK(built.failures[0].first.error == ENOMEM);
  CHECK(HasFunction(built.failures[0].frames, "fail_big_malloc"));
}

TEST_CASE("recordings are named after the executable, not after a rewritten argv", "[exec]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  SECTION("an exec with another argv[0], then a fork after setproctitle") {
    RunResult run = Run({PROGRAM_RENAMED_ARGV, "exec"}, Exact(out_dir));
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    REQUIRE(run.out.rfind("child ", 0) == 0);
    const std::string pid = std::to_string(run.pid);
    const std::string child = std::to_string(std::stoul(run.out.substr(6)));
    std::vector<std::string> names;
    for (const std::string& f : Recordings(out_dir)) names.push_back(Basename(f));
    std::sort(names.begin(), names.end());
    std::vector<std::string> expected = {"renamed_argv." + pid + ".awtrace",
                                         "renamed_argv." + pid + ".1.awtrace",
                                         "renamed_argv." + child + ".awtrace"};
    std::sort(expected.begin(), expected.end());
    CHECK(names == expected);
    // The command lines are still recorded as the processes had them.
    for (const std::string& f : Recordings(out_dir)) {
      report::ProcessModel model = report::LoadProcess(f);
      if (Basename(f) == "renamed_argv." + child + ".awtrace") {
        REQUIRE_FALSE(model.argv.empty());
        CHECK(model.argv[0] == "worker/process -g daemon off;");
      }
    }
  }
  SECTION("an executable whose name is unsafe in a file name or long") {
    const std::string name = "my prog;$(x)\xc3\xa9" + std::string(100, 'a');
    const std::string program = dir.Sub("bin") + "/" + name;
    std::filesystem::copy_file(PROGRAM_RENAMED_ARGV, program);
    RunResult run = Run({program, "plain"}, Exact(out_dir));
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    std::vector<std::string> files = Recordings(out_dir);
    REQUIRE(files.size() == 1);
    const std::string safe = ("my_prog___x___" + std::string(100, 'a')).substr(0, 64);
    CHECK(Basename(files[0]) == safe + "." + std::to_string(run.pid) + ".awtrace");
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
