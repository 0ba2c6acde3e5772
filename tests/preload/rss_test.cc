// tests/preload/rss_test.cc: where the resident memory goes (programs/rss_cases.c and
// programs/own_allocator.c): reserved address space is told apart from memory, and each case
// whose RSS the heap does not explain gets its named cause in the report.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "json_support.h"
#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using nlohmann::json;
constexpr double kMiB = 1024.0 * 1024.0;

struct RssRun {
  std::string out;   // the program's stdout
  std::string text;  // the text report
  json process;      // the JSON report's only process
};

// `allocwatch run [--exact] --interval 0.05 -o DIR --report DIR/report.txt -- PROGRAM ARGS`.
RssRun RunCase(const TempDir& dir, const std::vector<std::string>& program, bool exact) {
  std::vector<std::string> argv = {
      ALLOCWATCH_COMMAND, "run",  "-o",       dir.path(),
      "--interval",       "0.05", "--report", dir.path() + "/report.txt"};
  if (exact) argv.push_back("--exact");
  argv.push_back("--");
  argv.insert(argv.end(), program.begin(), program.end());
  RunResult r = Run(argv);
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  RssRun out;
  out.out = r.out;
  out.text = ReadFile(dir.path() + "/report.txt");
  json doc = RunJson({ALLOCWATCH_COMMAND, "report", "--format", "json", dir.path()});
  REQUIRE(doc.at("processes").size() == 1);
  out.process = doc.at("processes").at(0);
  return out;
}

// The causes the report named, by their JSON names.
std::vector<std::string> Causes(const json& process) {
  std::vector<std::string> names;
  for (const json& c : process.at("memory").at("causes")) names.push_back(c.at("cause"));
  return names;
}

bool Has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A peak between two snapshots (here the run is shorter than the default 1 s interval): the
// kernel's high-water mark, read with every snapshot, gives the peak RSS.
TEST_CASE("rss: a 64 MiB spike between snapshots is the peak RSS (high-water mark)", "[rss]") {
  for (bool exact : {false, true}) {
    TempDir dir;
    std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "run",      "-o",
                                     dir.path(),         "--report", dir.path() + "/report.txt"};
    if (exact) argv.push_back("--exact");
    for (std::string a : {"--", PROGRAM_RSS_CASES, "spike"}) argv.push_back(a);
    RunResult r = Run(argv);
    INFO(r.Describe());
    REQUIRE(r.ExitedWith(0));
    std::string text = ReadFile(dir.path() + "/report.txt");
    INFO(text);
    CHECK(text.find("the kernel's high-water mark") != std::string::npos);
    json doc = RunJson({ALLOCWATCH_COMMAND, "report", "--format", "json", dir.path()});
    const json& peak = doc.at("processes").at(0).at("peak");
    CHECK(peak.at("rss_from_high_water_mark") == true);
    CHECK(peak.at("rss_bytes").get<double>() >= 64 * kMiB);
    // Every snapshot measured far less: the spike was gone at the exit's.
    for (const json& s : doc.at("processes").at(0).at("snapshots")) {
      CHECK(s.at("rss_bytes").get<double>() < 64 * kMiB);
    }
  }
}

TEST_CASE("rss: a 64 GiB PROT_NONE reservation is address space, not memory", "[rss]") {
  for (bool exact : {true, false}) {
    TempDir dir;
    RssRun run = RunCase(dir, {PROGRAM_RSS_CASES, "reserve"}, exact);
    INFO(run.text);
    const json& totals = run.process.at("totals");
    // Committed: 8 MiB by mprotect, 4 MiB by MAP_FIXED; reserved: the rest of the 64 GiB.
    CHECK(totals.at("mapped_live_bytes").get<double>() == 12 * kMiB);
    CHECK(totals.at("reserved_live_bytes").get<double>() == 64 * 1024 * kMiB - 12 * kMiB);
    // The peak counts memory only.
    CHECK(run.process.at("peak").at("live_bytes").get<double>() < 64 * kMiB);
    // The committed bytes are charged to who committed them, the reservation to who reserved.
    const json& mappings = run.process.at("mappings");
    const json* commit = SiteIn(mappings, "commit_site");
    const json* fixed = SiteIn(mappings, "commit_fixed_site");
    REQUIRE(commit != nullptr);
    REQUIRE(fixed != nullptr);
    CHECK(commit->at("mapped_live_bytes").get<double>() == 8 * kMiB);
    CHECK(fixed->at("mapped_live_bytes").get<double>() == 4 * kMiB);
    CHECK(SiteIn(mappings, "reserve_site") == nullptr);
    const json* reserve = SiteIn(run.process.at("reserved"), "reserve_site");
    REQUIRE(reserve != nullptr);
    CHECK(reserve->at("reserved_live_bytes").get<double>() == 64 * 1024 * kMiB - 12 * kMiB);
    // The text says so, and never calls the reservation mapped memory.
    CHECK(run.text.find("12.00 MiB mapped") != std::string::npos);
    CHECK(run.text.find("63.99 GiB of address space (PROT_NONE") != std::string::npos);
    CHECK(run.text.find("GiB mapped") == std::string::npos);
    // The breakdown: the program's own committed mappings hold 12 MiB at the end.
    const json& end = run.process.at("memory").at("at_end");
    CHECK(end.at("mapped_anon_bytes").get<double>() == 12 * kMiB);
    CHECK(end.at("reserved_bytes").get<double>() == 64 * 1024 * kMiB - 12 * kMiB);
    CHECK(end.at("anon_bytes").get<double>() >= 12 * kMiB);
  }
}

TEST_CASE("rss: free memory stranded in four threads' arenas is named fragmentation", "[rss]") {
  TempDir dir;
  RssRun run = RunCase(dir, {PROGRAM_RSS_CASES, "fragment"}, /*exact=*/false);
  INFO(run.text);
  const json& memory = run.process.at("memory");
  INFO(memory.dump(1));
  std::vector<std::string> causes = Causes(run.process);
  CHECK(Has(causes, "fragmentation"));
  CHECK_FALSE(Has(causes, "unseen_growth"));
  // Each of the 4 threads left ~31.5 MiB free in its arena while ~0.5 MiB stays live. (The
  // RSS peak may come before the frees, with the same RSS: the end is after them.)
  const json& end = memory.at("at_end");
  CHECK(end.at("arena_free_bytes").get<double>() >= 100 * kMiB);
  CHECK(end.at("arenas").get<int>() >= 4);
  CHECK(end.at("live_heap_bytes").get<double>() < 16 * kMiB);
  CHECK(run.text.find("fragmentation: ") != std::string::npos);
  CHECK(run.text.find("MALLOC_ARENA_MAX") != std::string::npos);
  CHECK(run.text.find("Where the resident memory goes") != std::string::npos);
}

TEST_CASE("rss: RSS that grows through the program's own mmaps is named with its site", "[rss]") {
  TempDir dir;
  RssRun run = RunCase(dir, {PROGRAM_RSS_CASES, "mmaps"}, /*exact=*/false);
  INFO(run.text);
  std::vector<std::string> causes = Causes(run.process);
  CHECK(Has(causes, "mapping_growth"));
  CHECK_FALSE(Has(causes, "fragmentation"));
  CHECK_FALSE(Has(causes, "unseen_growth"));
  for (const json& c : run.process.at("memory").at("causes")) {
    if (c.at("cause") != "mapping_growth") continue;
    REQUIRE(c.at("site").is_object());
    const json& frames = c.at("site").at("frames");
    size_t index = c.at("site").at("site_frame").get<size_t>();
    REQUIRE(index < frames.size());
    CHECK(frames[index].value("function", "") == "mmap_grow_site");
  }
  CHECK(run.text.find("RSS grows through mappings, not the heap") != std::string::npos);
}

TEST_CASE("rss: RSS grown by an allocator allocwatch does not see is named so", "[rss]") {
  TempDir dir;
  RssRun run = RunCase(dir, {PROGRAM_OWN_ALLOCATOR}, /*exact=*/false);
  INFO(run.text);
  // allocwatch's tables grew (3000 mappings) on glibc's own allocator, never on the program's
  // __libc_malloc.
  INFO(run.out);
  CHECK(run.out.find("__libc_malloc calls 0") != std::string::npos);
  std::vector<std::string> causes = Causes(run.process);
  CHECK(Has(causes, "unseen_growth"));
  CHECK_FALSE(Has(causes, "fragmentation"));
  CHECK_FALSE(Has(causes, "mapping_growth"));
  CHECK(run.process.at("memory").at("at_end").at("foreign_malloc") == true);
  CHECK(run.text.find("RSS grows but nothing allocwatch sees does") != std::string::npos);
  for (const json& c : run.process.at("memory").at("causes")) {
    if (c.at("cause") != "unseen_growth") continue;
    CHECK(c.at("evidence").get<std::string>().find("statically linked allocator") !=
          std::string::npos);
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
