// tests/preload/gates_test.cc: the CI gates of `allocwatch run` (--fail-on-leak, --max-peak,
// --fail-on-failed-alloc, --gate-status): each passing and failing on programs of known
// figures, the site named, the program's own failure kept, and a sampled run that does not
// fail on sampling noise.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

RunResult RunGated(const TempDir& dir, std::vector<std::string> options,
                   const std::vector<std::string>& program) {
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "run", "-o", dir.path()};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("--");
  argv.insert(argv.end(), program.begin(), program.end());
  return Run(argv);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("gates: --fail-on-leak fails over the leaked bytes and names the site", "[gates]") {
  // cli_subject print leaks 6 x 999 bytes from cli_leak (and stdio's buffer, 4 KiB or so).
  {
    TempDir dir;
    RunResult r = RunGated(dir, {"--exact", "--no-report", "--fail-on-leak", "1K"},
                           {PROGRAM_CLI_SUBJECT, "print"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(23));  // the default gate status
    CHECK(Has(r.err, "gate --fail-on-leak 1.00 KiB FAILED"));
    CHECK(Has(r.err, "5.85 KiB at cli_leak (cli_subject.c:"));
  }
  {
    TempDir dir;
    RunResult r = RunGated(dir, {"--exact", "--no-report", "--fail-on-leak", "1M"},
                           {PROGRAM_CLI_SUBJECT, "print"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(0));
    CHECK(Has(r.err, "gate --fail-on-leak 1.00 MiB passed"));
  }
  {
    // With the report: the same verdict, and --gate-status sets the status.
    TempDir dir;
    RunResult r = RunGated(dir,
                           {"--exact", "--report", dir.path() + "/report.txt", "--fail-on-leak",
                            "1K", "--gate-status", "77"},
                           {PROGRAM_CLI_SUBJECT, "print"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(77));
    CHECK(Has(r.err, "gate --fail-on-leak 1.00 KiB FAILED"));
    CHECK(Has(ReadFile(dir.path() + "/report.txt"), "gate --fail-on-leak 1.00 KiB FAILED"));
  }
}

TEST_CASE("gates: the program's own failure keeps its status", "[gates]") {
  TempDir dir;
  RunResult r = RunGated(dir, {"--exact", "--no-report", "--fail-on-leak", "1K"},
                         {PROGRAM_CLI_SUBJECT, "exit42"});
  INFO(r.Describe());
  CHECK(r.ExitedWith(42));
  CHECK(Has(r.err, "gate --fail-on-leak 1.00 KiB FAILED"));
}

TEST_CASE("gates: --max-peak fails over the peak and names who held it", "[gates]") {
  // grow_release 0.2 1 holds up to a few MiB at grow_site before it frees it at exit.
  {
    TempDir dir;
    RunResult r = RunGated(dir, {"--exact", "--no-report", "--max-peak", "256K"},
                           {PROGRAM_GROW_RELEASE, "0.2", "1"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(23));
    CHECK(Has(r.err, "gate --max-peak 256.00 KiB FAILED"));
    CHECK(Has(r.err, " at grow_site (grow_release.c:"));
  }
  {
    TempDir dir;
    RunResult r = RunGated(dir, {"--exact", "--no-report", "--max-peak", "1G"},
                           {PROGRAM_GROW_RELEASE, "0.2", "1"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(0));
    CHECK(Has(r.err, "gate --max-peak 1.00 GiB passed"));
  }
}

TEST_CASE("gates: --fail-on-failed-alloc fails on a failed call and names it", "[gates]") {
  {
    TempDir dir;
    RunResult r =
        RunGated(dir, {"--no-report", "--fail-on-failed-alloc"}, {PROGRAM_FAILING_MALLOC});
    INFO(r.Describe());
    CHECK(r.ExitedWith(23));
    CHECK(Has(r.err, "gate --fail-on-failed-alloc FAILED: 1 failed allocation call"));
    CHECK(Has(r.err, "malloc(8.00 EiB) ENOMEM x1 at fail_big_malloc (failing_malloc.c:"));
  }
  {
    TempDir dir;
    RunResult r =
        RunGated(dir, {"--no-report", "--fail-on-failed-alloc"}, {PROGRAM_CLI_SUBJECT, "print"});
    INFO(r.Describe());
    CHECK(r.ExitedWith(0));
    CHECK(Has(r.err, "gate --fail-on-failed-alloc passed: 0 failed allocation calls"));
  }
}

TEST_CASE("gates: a sampled run fails on a clear excess, never on sampling noise", "[gates]") {
  // The sampled program keeps 203,002,720 bytes live at exit (it prints the truth per site).
  // A limit at the truth passes unless the estimate is 4 standard deviations over it (less
  // than once in 30,000 runs); half of it fails (the estimate is ~30 sigma over it).
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    RunResult r = RunGated(dir, {"--no-report", "--fail-on-leak", "203002720"}, {PROGRAM_SAMPLED});
    INFO(r.Describe());
    CHECK(r.ExitedWith(0));
    CHECK(Has(r.err, "gate --fail-on-leak 193.60 MiB passed"));
  }
  TempDir dir;
  RunResult r = RunGated(dir, {"--no-report", "--fail-on-leak", "101501360"}, {PROGRAM_SAMPLED});
  INFO(r.Describe());
  CHECK(r.ExitedWith(23));
  CHECK(Has(r.err, "even the lower bound > 96.80 MiB"));
}

}  // namespace allocwatch::preload_test
