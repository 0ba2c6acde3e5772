// tests/preload/control_test.cc: recording turned on and off at runtime: `allocwatch run
// --paused` and `allocwatch ctl PID start|stop|snapshot` on programs/controlled.c, whose three
// phases keep 100 blocks each from site_a, site_b and site_c; only site_b's are recorded when
// recording is started after site_a and stopped before site_c.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "json_support.h"
#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using nlohmann::json;

void WaitForFile(const std::string& path) {
  struct stat st {};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (stat(path.c_str(), &st) != 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

RunResult Ctl(const std::string& pid, const std::string& command) {
  return Run({ALLOCWATCH_COMMAND, "ctl", pid, command});
}

void CheckWindowed(bool exact) {
  TempDir dir;
  std::string sync = dir.Sub("sync");
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "run",        "--paused", "-o",
                                   dir.path(),         "--no-report"};
  if (exact) {
    argv.push_back("--exact");
  } else {
    // Each 1000 to 3000-byte block is sampled with p >= 0.62: a phase recorded shows (the chance
    // that none of its 100 blocks is sampled is below 1e-40), one not recorded would too.
    argv.push_back("--sample-bytes");
    argv.push_back("1024");
  }
  argv.push_back("--");
  argv.push_back(PROGRAM_CONTROLLED);
  argv.push_back(sync);
  if (!exact) argv.push_back("thread");  // sampled: the timer thread carries commands out
  RunResult run;
  std::thread runner([&] { run = Run(argv); });
  WaitForFile(sync + "/a_done");
  std::string pid = ReadFile(sync + "/pid");
  pid.erase(pid.find_last_not_of("\n") + 1);
  RunResult start = Ctl(pid, "start");
  WriteFile(sync + "/go_b", "");
  WaitForFile(sync + "/b_done");
  RunResult snapshot = Ctl(pid, "snapshot");
  RunResult stop = Ctl(pid, "stop");
  RunResult again = Ctl(pid, "stop");
  WriteFile(sync + "/go_c", "");
  runner.join();
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  INFO(start.Describe() << start.out);
  CHECK(start.ExitedWith(0));
  CHECK(start.out.find("recording started at") != std::string::npos);
  CHECK(snapshot.ExitedWith(0));
  CHECK(snapshot.out.find("snapshot written at") != std::string::npos);
  CHECK(stop.ExitedWith(0));
  CHECK(stop.out.find("recording stopped at") != std::string::npos);
  CHECK(again.ExitedWith(0));
  CHECK(again.out.find("was stopped already") != std::string::npos);

  json doc = RunJson({ALLOCWATCH_COMMAND, "report", "--format", "json", "--top", "0", dir.path()});
  const json& p = doc.at("processes").at(0);
  INFO(p.at("end").dump());
  const json& windows = p.at("end").at("recorded_windows");
  REQUIRE(windows.size() == 1);
  CHECK(windows[0][0].get<double>() < windows[0][1].get<double>());
  const json& leaks = p.at("leaks");
  INFO(leaks.dump(1));
  CHECK(SiteIn(leaks, "site_a") == nullptr);
  CHECK(SiteIn(leaks, "site_c") == nullptr);
  const json* b = SiteIn(leaks, "site_b");
  REQUIRE(b != nullptr);
  if (exact) {
    CHECK(b->at("live_count").get<double>() == 100);
    CHECK(b->at("live_bytes").get<double>() == 200000);
  }
  // The snapshot asked for is in the recording, between start and stop.
  const json& controls = p.at("end").at("controls");
  REQUIRE(controls.size() == 4);
  CHECK(controls[0].at("command") == "start_paused");
  CHECK(controls[1].at("command") == "start");
  CHECK(controls[2].at("command") == "snapshot");
  CHECK(controls[3].at("command") == "stop");
  // The text report says when it recorded.
  RunResult text = Run({ALLOCWATCH_COMMAND, "report", dir.path()});
  CHECK(text.out.find("recorded    ") != std::string::npos);
}

}  // namespace

TEST_CASE("control: --paused, then ctl start and stop record only the middle, exact", "[control]") {
  CheckWindowed(true);
}

TEST_CASE("control: the same in sampled mode, with threads", "[control]") { CheckWindowed(false); }

TEST_CASE("control: ctl of a process allocwatch does not record is refused", "[control]") {
  RunResult r = Ctl(std::to_string(getpid()), "start");
  INFO(r.Describe());
  CHECK(r.ExitedWith(1));
  CHECK(r.err.find("is not being recorded by allocwatch") != std::string::npos);
  RunResult bad = Run({ALLOCWATCH_COMMAND, "ctl", std::to_string(getpid()), "pause"});
  CHECK(bad.ExitedWith(2));
}

}  // namespace allocwatch::preload_test
