// tests/preload/cli_test.cc: `allocwatch run` and `allocwatch report` end to end
// (programs/cli_subject.c); unknown options of every command are rejected before it starts,
// and the program's own arguments reach it untouched.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

using nlohmann::json;

constexpr double kLeakCount = 6, kLeakSize = 999;  // cli_leak() in programs/cli_subject.c

std::vector<std::string> AllocwatchRun(const std::string& out_dir,
                                       const std::vector<std::string>& extra,
                                       const std::string& mode) {
  std::vector<std::string> argv = {ALLOCWATCH_COMMAND, "run", "--exact", "-o", out_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--", PROGRAM_CLI_SUBJECT, mode});
  return argv;
}

// The site in a JSON site array whose site frame is in `function`, or null.
const json* FindSite(const json& sites, const std::string& function) {
  for (const json& s : sites) {
    size_t index = s.at("site_frame").get<size_t>();
    const json& frames = s.at("frames");
    if (index < frames.size() && frames[index].value("function", "") == function) return &s;
  }
  return nullptr;
}

TEST_CASE("allocwatch run passes the program's exit status on", "[cli]") {
  TempDir dir;
  RunResult run = Run(AllocwatchRun(dir.Sub("rec"), {}, "exit42"));
  INFO(run.Describe());
  CHECK(run.ExitedWith(42));
  CHECK(run.out == "exiting with 42\n");
  CHECK(run.err.find("cli_leak") != std::string::npos);
  CHECK(run.err.find("program exited with status 42") != std::string::npos);
  CHECK(Recordings(dir.path() + "/rec").size() == 1);
}

TEST_CASE("allocwatch run dies of the signal that killed the program", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run(AllocwatchRun(out_dir, {}, "sigterm"));
  INFO(run.Describe());
  REQUIRE_FALSE(run.timed_out);
  REQUIRE(WIFSIGNALED(run.status));
  CHECK(WTERMSIG(run.status) == SIGTERM);
  CHECK(run.err.find("was killed by signal 15") != std::string::npos);
  // The recording exists but has no end record: the program never got to exit.
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK(model.ending == report::Ending::kCutShort);
  CHECK(model.pid != 0);
}

TEST_CASE("allocwatch run leaves stdout alone and --report leaves stderr alone", "[cli]") {
  RunResult plain = Run({PROGRAM_CLI_SUBJECT, "print"});
  INFO("plain: " << plain.Describe());
  REQUIRE(plain.ExitedWith(0));
  REQUIRE(plain.out.size() > 4096);  // several buffer flushes, binary bytes at the end
  REQUIRE(plain.err == "cli_subject: a line on stderr\n");

  TempDir dir;
  SECTION("report on stderr, after the program's own stderr") {
    RunResult run = Run(AllocwatchRun(dir.Sub("rec"), {}, "print"));
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    CHECK(run.out == plain.out);
    CHECK(run.err.rfind(plain.err, 0) == 0);
    CHECK(run.err.find("cli_leak") != std::string::npos);
  }

  SECTION("--report FILE") {
    const std::string report_file = dir.path() + "/report.txt";
    RunResult run = Run(AllocwatchRun(dir.Sub("rec"), {"--report", report_file}, "print"));
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    CHECK(run.out == plain.out);
    CHECK(run.err == plain.err);
    std::string report = ReadFile(report_file);
    CHECK(report.find("Live at exit by call site") != std::string::npos);
    CHECK(report.find("cli_leak") != std::string::npos);
    CHECK(report.find("program exited with status 0") != std::string::npos);
  }
}

TEST_CASE("allocwatch run --no-children records only the launched process", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run({ALLOCWATCH_COMMAND, "run", "--exact", "--no-children", "-o", out_dir,
                       "--report", dir.path() + "/report.txt", "--", PROGRAM_FORKING});
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  CHECK_FALSE(model.fork_child);
  CHECK(model.ending == report::Ending::kExit);
  Sites sites(model);
  CHECK(sites.Sum("parent_leak").live_bytes == 3 * 1111);
  CHECK(sites.Of("child_leak").empty());
}

TEST_CASE("allocwatch report --format json holds the leak sites with exact figures", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run(AllocwatchRun(out_dir, {"--report", dir.path() + "/report.txt"}, "print"));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);

  RunResult report = Run({ALLOCWATCH_COMMAND, "report", "--format", "json", files[0]});
  INFO("report: " << report.Describe());
  REQUIRE(report.ExitedWith(0));
  CHECK(report.err.empty());
  json doc = json::parse(report.out);  // throws (and fails the test) when it does not parse
  CHECK(doc.at("schema") == "allocwatch.report");
  CHECK(doc.at("version") == 3);
  REQUIRE(doc.at("processes").size() == 1);
  const json& p = doc.at("processes")[0];
  CHECK(p.at("recording") == files[0]);
  CHECK(p.at("mode").at("exact") == true);
  CHECK(p.at("end").at("how") == "exit");
  CHECK(p.at("process").at("argv") == json::array({PROGRAM_CLI_SUBJECT, "print"}));
  CHECK(p.at("process").at("session").get<uint64_t>() != 0);
  CHECK(p.at("warnings").empty());

  const json* leak = FindSite(p.at("leaks"), "cli_leak");
  INFO("leaks: " << p.at("leaks").dump(1));
  REQUIRE(leak != nullptr);
  CHECK(leak->at("live_count") == kLeakCount);
  CHECK(leak->at("live_bytes") == kLeakCount * kLeakSize);
  CHECK(leak->at("alloc_count") == kLeakCount);
  CHECK(leak->at("site").get<std::string>().rfind("cli_leak (cli_subject.c:", 0) == 0);
  // The only other live block: glibc's stdout buffer (stdout is a regular file; stderr is
  // unbuffered).
  CHECK(p.at("leaks").size() == 2);
  CHECK(p.at("totals").at("live_count") == kLeakCount + 1);
  CHECK(p.at("totals").at("live_bytes") ==
        kLeakCount * kLeakSize + static_cast<double>(run.stdout_blksize));
  CHECK(p.at("failures").empty());
}

TEST_CASE("allocwatch report rejects missing and foreign files with a clear message", "[cli]") {
  TempDir dir;

  SECTION("missing file") {
    const std::string missing = dir.path() + "/missing.awtrace";
    RunResult run = Run({ALLOCWATCH_COMMAND, "report", missing});
    INFO(run.Describe());
    CHECK_FALSE(run.ExitedWith(0));
    CHECK(WIFEXITED(run.status));  // an error exit, not a crash
    CHECK(run.err.find(missing + ": cannot open: No such file or directory") != std::string::npos);
  }

  SECTION("random bytes") {
    std::mt19937 random(20240229);
    std::string bytes(4096, '\0');
    for (char& c : bytes) c = static_cast<char>(random() & 0xff);
    const std::string foreign = dir.path() + "/foreign.awtrace";
    WriteFile(foreign, bytes);
    RunResult run = Run({ALLOCWATCH_COMMAND, "report", foreign});
    INFO(run.Describe());
    CHECK_FALSE(run.ExitedWith(0));
    CHECK(WIFEXITED(run.status));
    CHECK(run.err.find(foreign + ": not an allocwatch recording") != std::string::npos);
  }

  SECTION("empty file") {
    const std::string empty = dir.path() + "/empty.awtrace";
    WriteFile(empty, "");
    RunResult run = Run({ALLOCWATCH_COMMAND, "report", "--format", "json", empty});
    INFO(run.Describe());
    CHECK_FALSE(run.ExitedWith(0));
    CHECK(WIFEXITED(run.status));
    CHECK(run.err.find(empty + ": not an allocwatch recording") != std::string::npos);
  }
}

TEST_CASE("allocwatch report on a recording cut in the middle warns and reports", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run(AllocwatchRun(out_dir, {"--report", dir.path() + "/report.txt"}, "print"));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  std::string whole = ReadFile(files[0]);
  REQUIRE(whole.size() > 13);
  const std::string cut = dir.path() + "/cut.awtrace";
  WriteFile(cut, whole.substr(0, whole.size() - 13));  // ends inside the 40-byte end record

  SECTION("text") {
    RunResult report = Run({ALLOCWATCH_COMMAND, "report", cut});
    INFO(report.Describe());
    CHECK(report.ExitedWith(0));
    CHECK(report.out.find("Warnings") != std::string::npos);
    CHECK(report.out.find(cut + ": truncated record at offset") != std::string::npos);
    CHECK(report.out.find("cli_leak") != std::string::npos);
  }

  SECTION("json") {
    RunResult report = Run({ALLOCWATCH_COMMAND, "report", "--format", "json", cut});
    INFO(report.Describe());
    REQUIRE(report.ExitedWith(0));
    json doc = json::parse(report.out);
    const json& p = doc.at("processes").at(0);
    REQUIRE(p.at("warnings").size() == 1);
    CHECK(p.at("warnings")[0].get<std::string>().find("truncated record") != std::string::npos);
    CHECK(p.at("end").at("how") == "cut_short");
    // Every allocation record precedes the cut, so the leak figures are still exact.
    const json* leak = FindSite(p.at("leaks"), "cli_leak");
    REQUIRE(leak != nullptr);
    CHECK(leak->at("live_bytes") == kLeakCount * kLeakSize);
    CHECK(leak->at("live_count") == kLeakCount);
  }
}

// Runs `argv` in a fresh working directory; checks that it is a usage error naming `option`
// and that nothing was started: no output, no recording here or in `out_dir`.
void ExpectUnknownOption(const std::vector<std::string>& argv, const std::string& command,
                         const std::string& option, const std::string& out_dir) {
  TempDir cwd;
  RunOptions options;
  options.cwd = cwd.path();
  RunResult run = Run(argv, options);
  INFO(run.Describe());
  CHECK(run.ExitedWith(2));
  CHECK(run.err.rfind("allocwatch " + command + ": unknown option '" + option + "'\n", 0) == 0);
  CHECK(run.err.find("usage: allocwatch " + command + " ") != std::string::npos);
  CHECK(run.out.empty());
  CHECK(std::filesystem::is_empty(cwd.path()));
  if (!out_dir.empty()) {
    CHECK((!std::filesystem::exists(out_dir) || std::filesystem::is_empty(out_dir)));
  }
}

TEST_CASE("allocwatch run rejects an unknown option and starts nothing", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.path() + "/bg";  // not created: run would make it
  const std::string cmd = ALLOCWATCH_COMMAND, subject = PROGRAM_CLI_SUBJECT;
  SECTION("before --, with options after it") {
    ExpectUnknownOption(
        {cmd, "run", "--exact", "--bogus-flag", "1M", "-o", out_dir, "--", subject, "print"}, "run",
        "--bogus-flag", out_dir);
  }
  SECTION("without --") {
    ExpectUnknownOption({cmd, "run", "--exact", "--bogus-flag", "-o", out_dir, subject, "print"},
                        "run", "--bogus-flag", out_dir);
  }
  SECTION("with a value attached") {
    ExpectUnknownOption({cmd, "run", "--bogus-flag=1M", "-o", out_dir, "--", subject, "print"},
                        "run", "--bogus-flag", out_dir);
  }
  SECTION("a short one") {
    ExpectUnknownOption({cmd, "run", "-Z", "-o", out_dir, "--", subject, "print"}, "run", "-Z",
                        out_dir);
  }
}

TEST_CASE("allocwatch run rejects a bad option value with status 2 and starts nothing", "[cli]") {
  const std::string cmd = ALLOCWATCH_COMMAND, subject = PROGRAM_CLI_SUBJECT;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--brink", "0"}, "--brink"},
      {{"--brink", "1,2,3,4,5"}, "--brink"},
      {{"--brink", "10,,5"}, "--brink"},
      {{"--brink", "100"}, "--brink"},
      {{"--write-budget", "200"}, "--write-budget"},
      {{"--interval", "0"}, "--interval"}};
  for (const auto& [args, option] : cases) {
    TempDir cwd;
    std::vector<std::string> argv = {cmd, "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--", subject, "print"});
    RunOptions options;
    options.cwd = cwd.path();
    RunResult run = Run(argv, options);
    INFO(args[0] << " " << args[1] << ": " << run.Describe());
    CHECK(run.ExitedWith(2));
    CHECK(run.err.rfind(option + ": ", 0) == 0);
    CHECK(run.out.empty());
    CHECK(std::filesystem::is_empty(cwd.path()));
  }
  // Valid values start the program.
  for (const char* value : {"off", "10,5,2", "3"}) {
    TempDir dir;
    RunResult run = Run(
        {cmd, "run", "--brink", value, "--no-report", "-o", dir.path(), "--", subject, "print"});
    INFO(value << ": " << run.Describe());
    CHECK(run.ExitedWith(0));
    CHECK(Recordings(dir.path()).size() == 1);
  }
}

TEST_CASE("allocwatch report, diff, symbolize and doctor reject an unknown option", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunResult run = Run(AllocwatchRun(out_dir, {"--no-report"}, "print"));
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  const std::string cmd = ALLOCWATCH_COMMAND, report_file = dir.path() + "/report.json";
  ExpectUnknownOption({cmd, "report", "--bogus-flag", "1M", "-o", report_file, out_dir}, "report",
                      "--bogus-flag", "");
  ExpectUnknownOption({cmd, "report", out_dir, "--format", "json", "--bogus-flag=2"}, "report",
                      "--bogus-flag", "");
  CHECK_FALSE(std::filesystem::exists(report_file));
  ExpectUnknownOption({cmd, "diff", "--bogus-flag", out_dir, out_dir}, "diff", "--bogus-flag", "");
  ExpectUnknownOption({cmd, "symbolize", "--bogus-flag", out_dir}, "symbolize", "--bogus-flag", "");
  CHECK(Recordings(out_dir).size() == 1);
  for (const auto& entry : std::filesystem::directory_iterator(out_dir)) {
    CHECK(entry.path().extension() != ".awsym");  // symbolize wrote nothing
  }
  ExpectUnknownOption({cmd, "doctor", "--json", "--bogus-flag"}, "doctor", "--bogus-flag", "");

  // After "--" an argument that looks like an option is a recording's name.
  RunResult dashed = Run({cmd, "report", "--", "-not-an-option.awtrace"});
  CHECK(dashed.ExitedWith(1));
  CHECK(dashed.err.find("-not-an-option.awtrace: cannot open") != std::string::npos);

  // An argument that is not an option but has no place either is an error too.
  RunResult extra = Run({cmd, "diff", out_dir, out_dir, out_dir});
  CHECK(extra.ExitedWith(2));
  CHECK(extra.err.rfind("allocwatch diff: unexpected argument '" + out_dir + "'", 0) == 0);
}

TEST_CASE("allocwatch run passes the program's arguments on, options included", "[cli]") {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  const std::string cmd = ALLOCWATCH_COMMAND, subject = PROGRAM_CLI_SUBJECT;
  struct Case {
    std::vector<std::string> argv;
    std::string out;  // what the program prints: its arguments after "args"
  };
  const Case cases[] = {
      {{cmd, "run", "--no-report", "-o", out_dir, "--", subject, "args", "--x", "-o", "y"},
       "--x\n-o\ny\n"},
      {{cmd, "run", "--no-report", "-o", out_dir, subject, "args", "--x", "--exact"},
       "--x\n--exact\n"},
      // A "--" after the program is the program's own.
      {{cmd, "run", "--no-report", "-o", out_dir, subject, "args", "--", "--x"}, "--\n--x\n"},
      // Values attached to their options and given apart.
      {{cmd, "run", "--exact", "-o" + out_dir, "--interval=0.5", "--report",
        dir.path() + "/report.txt", subject, "args", "-x"},
       "-x\n"},
  };
  for (const Case& c : cases) {
    INFO(c.argv.size() << " arguments, expecting " << c.out);
    std::filesystem::remove_all(out_dir);
    RunResult run = Run(c.argv);
    INFO(run.Describe());
    REQUIRE(run.ExitedWith(0));
    CHECK(run.out == c.out);
    CHECK(Recordings(out_dir).size() == 1);  // -o was honoured
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
