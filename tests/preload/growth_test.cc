// tests/preload/growth_test.cc: growth found at any run length (programs/grow_release.c): the
// series is sampled from the recorded events on a grid of time, not at the snapshots, and a
// site that grew for the whole run is reported as growing though the program frees it at exit;
// `allocwatch diff` tells a site that started or stopped growing between two short runs.
#include <catch2/catch.hpp>
#include <string>

#include "json_support.h"
#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using nlohmann::json;

struct GrowRun {
  std::string report;  // the text report of allocwatch run
  double peak = 0;     // the bytes grow_site held at its peak, as the program printed them
};

// `allocwatch run [--exact] -o DIR --report DIR/report.txt -- grow_release SECONDS GROW`.
GrowRun RunGrowRelease(const TempDir& dir, const std::string& seconds, bool grow, bool exact) {
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "run",      "-o",
                                   dir.path(),         "--report", dir.path() + "/report.txt"};
  if (exact) argv.push_back("--exact");
  for (std::string a : {"--", PROGRAM_GROW_RELEASE}) argv.push_back(a);
  argv.push_back(seconds);
  argv.push_back(grow ? "1" : "0");
  RunResult r = Run(argv);
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  return GrowRun{ReadFile(dir.path() + "/report.txt"), std::stod(r.out)};
}

void CheckGrewAndReleased(const std::string& seconds, bool exact) {
  TempDir dir;
  GrowRun run = RunGrowRelease(dir, seconds, true, exact);
  INFO(run.report);
  CHECK(run.report.find("released at exit") != std::string::npos);
  CHECK(run.report.find("none: no site's live bytes rose") == std::string::npos);
  json doc = RunJson({ALLOCWATCH_COMMAND, "report", "--format", "json", dir.path()});
  const json& p = doc.at("processes").at(0);
  // At least 50 points for a run of 0.2 s or more (1 ms apart at first, never fewer than 128).
  CHECK(p.at("series_times_s").size() >= 50);
  const json& sites = p.at("growth").at("sites");
  INFO(sites.dump(1));
  const json* grow = SiteIn(sites, "grow_site");
  REQUIRE(grow != nullptr);
  REQUIRE(grow->at("released").is_object());
  CHECK(grow->at("sustained") == false);  // not still high at the end
  double peak = grow->at("released").at("peak_bytes").get<double>();
  // The last sample before the frees holds all but the last steps; estimates in sampled mode.
  CHECK(peak <= run.peak * (exact ? 1.0 : 1.3));
  CHECK(peak >= run.peak * (exact ? 0.95 : 0.7));
  CHECK(grow->at("released").at("end_bytes").get<double>() < 0.1 * peak);
  CHECK(grow->at("fit").at("r2").get<double>() >= 0.8);
  // Everything was freed: grow_site is no leak, and the flat churn is not growth.
  const json* churn = SiteIn(sites, "churn_site");
  if (churn != nullptr) {
    CHECK(churn->at("sustained") == false);
    CHECK(churn->at("released").is_null());
  }
  CHECK(SiteIn(p.at("leaks"), "grow_site") == nullptr);
  // The live total is said to have grown and been released too.
  CHECK(p.at("growth").at("total").at("released").is_object());
}

TEST_CASE("growth: a site grown for 1.4 s and freed at exit, exact mode", "[growth]") {
  CheckGrewAndReleased("1.4", true);
}

TEST_CASE("growth: a site grown for 1.4 s and freed at exit, sampled mode", "[growth]") {
  CheckGrewAndReleased("1.4", false);
}

TEST_CASE("growth: a run of 0.2 s shows the same, in exact mode", "[growth]") {
  CheckGrewAndReleased("0.2", true);
}

// A single-threaded program has no timer thread (lifecycle.cc): in exact mode its events, on the
// fast path too, take the snapshots when the interval is over.
TEST_CASE("growth: a single-threaded program's exact events take the snapshots", "[growth]") {
  TempDir dir;
  RunResult r = Run({ALLOCWATCH_COMMAND, "run", "--exact", "--interval", "0.05", "--no-report",
                     "-o", dir.path(), "--", PROGRAM_GROW_RELEASE, "0.6", "1"});
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  json doc = RunJson({ALLOCWATCH_COMMAND, "report", "--format", "json", dir.path()});
  const json& p = doc.at("processes").at(0);
  // 0.6 s at 50 ms: 12 snapshots and the one at exit; a loaded machine may miss a few.
  const json& series = p.at("memory").at("series");
  INFO(series.dump());
  CHECK(series.size() >= 8);
  CHECK(series.size() <= 16);
}

TEST_CASE("diff: short runs show a site that started growing and one that stopped", "[growth]") {
  TempDir flat, growing;
  RunGrowRelease(flat, "0.35", false, true);
  RunGrowRelease(growing, "0.35", true, true);
  for (bool forward : {true, false}) {
    const std::string& base = forward ? flat.path() : growing.path();
    const std::string& next = forward ? growing.path() : flat.path();
    RunResult text = Run({ALLOCWATCH_COMMAND, "diff", base, next});
    INFO(text.Describe() << text.out);
    REQUIRE(text.ExitedWith(0));
    CHECK(text.out.find(forward ? "started growing" : "stopped growing") != std::string::npos);
    json doc = RunJson({ALLOCWATCH_COMMAND, "diff", "--format", "json", base, next});
    const json* grow = SiteIn(doc.at("sites"), "grow_site");
    REQUIRE(grow != nullptr);
    CHECK(grow->at("base").at("growing") == !forward);
    CHECK(grow->at("new").at("growing") == forward);
    CHECK(grow->at("started_growing") == forward);
    CHECK(SiteIn(doc.at("sites"), "churn_site") == nullptr);
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
