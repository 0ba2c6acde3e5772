// tests/durability/durability_test.cc: the SIGKILL durability test of one configuration (see
// README.md): the subject runs under `allocwatch run` and is killed at random instants (a
// seeded RNG, the seed printed); after each kill every step it had logged at least 50 ms
// before the kill must be in its recording.
//
// Usage: durability_test --allocwatch PATH --subject PATH --config threads1|threads4|idle|fork
//          --mode sampled|exact [--kills N] [--seed S] [--kill-ms MS] [--keep-dir DIR]
//          [--interval SECONDS]
// The seed is also read from ALLOCWATCH_DURABILITY_SEED. --kill-ms: one kill, at MS (after
// the start, or after the idle line in the idle configuration). Exit status 0: every kill
// passed; 1: some failed (their recordings are kept under --keep-dir); 2: usage. --interval
// is given to `allocwatch run` (default: its own, 1 s).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "bounds_check.h"
#include "child_process.h"
#include "kill_run.h"

namespace allocwatch::durability_test {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMsNs = 1000 * 1000;
// Records made up to this long before the kill must be in the recording.
constexpr int64_t kAllowedLossNs = 50 * kMsNs;

struct Config {
  const char* name;
  std::vector<std::string> subject_args;
  bool after_idle;  // instants counted from the idle line, else from the pid line
  int64_t first_ms, last_ms;
};

// Instants from 5 ms to 1.5 s: before the first snapshot (1 s, the default interval) and after
// it. The idle subject sleeps 3 s after 40 steps; it is killed 2 to 2.5 s into that sleep.
const Config kConfigs[] = {
    {"threads1", {"--threads", "1"}, false, 5, 1500},
    {"threads4", {"--threads", "4"}, false, 5, 1500},
    {"idle", {"--threads", "1", "--steps", "40", "--idle-ms", "3000"}, true, 2000, 2500},
    {"fork", {"--fork"}, false, 5, 1500},
};

struct Options {
  std::string allocwatch, subject, config, mode, keep_dir = "durability-failures", interval;
  int kills = 20;
  uint64_t seed = 0;
  double kill_ms = -1;  // < 0: the seeded instants
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "durability_test: " << why
            << "\nusage: durability_test --allocwatch PATH --subject PATH --config "
               "threads1|threads4|idle|fork --mode sampled|exact [--kills N] [--seed S] "
               "[--kill-ms MS] [--keep-dir DIR] [--interval SECONDS]\n";
  std::exit(2);
}

double Number(const std::string& option, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || value < 0) Usage(option + " takes a number >= 0");
  return value;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  std::string kills, seed, kill_ms;
  const std::map<std::string, std::string*> values = {{"--allocwatch", &o.allocwatch},
                                                      {"--subject", &o.subject},
                                                      {"--config", &o.config},
                                                      {"--mode", &o.mode},
                                                      {"--keep-dir", &o.keep_dir},
                                                      {"--kills", &kills},
                                                      {"--seed", &seed},
                                                      {"--kill-ms", &kill_ms},
                                                      {"--interval", &o.interval}};
  for (int i = 1; i < argc; i += 2) {
    auto it = values.find(argv[i]);
    if (it == values.end()) Usage(std::string("unknown option ") + argv[i]);
    if (i + 1 >= argc) Usage(std::string("missing value for ") + argv[i]);
    *it->second = argv[i + 1];
  }
  if (o.allocwatch.empty() || o.subject.empty()) Usage("--allocwatch and --subject are needed");
  if (o.mode != "sampled" && o.mode != "exact") Usage("--mode is sampled or exact");
  if (!kills.empty()) o.kills = static_cast<int>(Number("--kills", kills));
  if (o.kills < 1) Usage("--kills must be at least 1");
  if (!kill_ms.empty()) o.kill_ms = Number("--kill-ms", kill_ms);
  const char* env_seed = std::getenv("ALLOCWATCH_DURABILITY_SEED");
  if (seed.empty() && env_seed != nullptr) seed = env_seed;
  o.seed = seed.empty() ? std::random_device{}() | uint64_t{std::random_device{}()} << 32
                        : std::strtoull(seed.c_str(), nullptr, 10);
  return o;
}

const Config& FindConfig(const std::string& name) {
  for (const Config& c : kConfigs) {
    if (name == c.name) return c;
  }
  Usage("unknown --config " + name);
}

// One instant in each of `kills` equal slices of [first_ms, last_ms], in increasing order.
std::vector<int64_t> KillDelaysNs(const Config& c, const Options& o) {
  if (o.kill_ms >= 0) return {static_cast<int64_t>(o.kill_ms * 1e6)};
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  double slice_ms = static_cast<double>(c.last_ms - c.first_ms) / o.kills;
  std::vector<int64_t> delays;
  for (int i = 0; i < o.kills; ++i) {
    double ms = static_cast<double>(c.first_ms) + (i + unit(rng)) * slice_ms;
    delays.push_back(static_cast<int64_t>(ms * 1e6));
  }
  return delays;
}

// The recording of process `pid` in `dir` (NAME.PID.awtrace), or empty.
std::string RecordingOf(const std::string& dir, pid_t pid) {
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%d.awtrace", static_cast<int>(pid));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().ends_with(suffix)) return entry.path().string();
  }
  return "";
}

std::string Ms(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

struct KillResult {
  std::vector<std::string> issues;
  std::string summary;  // one line for a kill that passed
};

// The checks of one kill: per thread that logged a step, its sites and the recording's end.
KillResult Check(const Options& o, const KillOutcome& run, const std::string& recording) {
  KillResult result;
  const std::vector<std::string>& checked = o.mode == "exact" ? kAllSites : kAlwaysSampledSites;
  std::map<long, ThreadLedger> ledger = run.log.Ledger(run.kill_ns - kAllowedLossNs);
  Amount by_cutoff, held;
  if (ledger.empty()) {  // killed before the first step: the recording must still be readable
    Recorded recorded = ReadRecorded(o.allocwatch, recording, run.pid, kAllSites);
    if (!recorded.error.empty()) result.issues.push_back(recorded.error);
  }
  for (const auto& [tid, sites] : ledger) {
    Recorded recorded = ReadRecorded(o.allocwatch, recording, tid, kAllSites);
    std::vector<std::string> issues = CheckThread(tid, sites, recorded, checked);
    if (recorded.error.empty() && recorded.end_how != "cut_short") {
      issues.push_back("the recording ends with '" + recorded.end_how +
                       "', not cut_short, for a process killed by SIGKILL");
    }
    if (!issues.empty()) {
      issues.push_back("the recording holds for thread " + std::to_string(tid) + ": " +
                       recorded.Describe(kAllSites));
    }
    result.issues.insert(result.issues.end(), issues.begin(), issues.end());
    auto marker = sites.find("marker_site");
    if (marker != sites.end()) by_cutoff.Add(marker->second.done_by_cutoff);
    held.calls += recorded.Site("marker_site").alloc_count;
  }
  result.summary = std::to_string(ledger.size()) + " thread(s), marker_site logged by the cutoff " +
                   std::to_string(by_cutoff.calls) + ", recorded " + std::to_string(held.calls);
  return result;
}

// Copies what a failed kill left (recordings, allocwatch run's output, the progress lines
// with their arrival times) to keep_dir/CONFIG_MODE/kill-NN.
std::string Keep(const Options& o, const std::string& work, const KillOutcome& run, int index) {
  std::error_code ec;
  fs::path dest = fs::absolute(o.keep_dir, ec) / (o.config + "_" + o.mode) /
                  ("kill-" + std::to_string(index + 1));
  fs::remove_all(dest, ec);
  fs::create_directories(dest, ec);
  fs::copy(work, dest, fs::copy_options::recursive, ec);
  std::ofstream(dest / "progress.txt") << run.log.Transcript();
  return dest.string();
}

// One kill: run, kill, check. Returns false when it failed (the failure is printed).
bool OneKill(const Options& o, const Config& c, int index, int count, int64_t delay_ns) {
  std::error_code ec;
  fs::path work =
      fs::temp_directory_path(ec) /
      ("allocwatch-durability-" + std::to_string(getpid()) + "-" + std::to_string(index));
  fs::remove_all(work, ec);
  fs::create_directories(work / "recordings", ec);
  RunSpec spec;
  spec.allocwatch = o.allocwatch;
  spec.subject = o.subject;
  spec.exact = o.mode == "exact";
  spec.subject_args = c.subject_args;
  spec.output_dir = (work / "recordings").string();
  spec.run_output = (work / "allocwatch-run.txt").string();
  spec.interval = o.interval;
  KillOutcome run = RunAndKill(spec, {c.after_idle, delay_ns});
  std::ostringstream head;
  head << o.config << "/" << o.mode << " kill " << index + 1 << "/" << count << " at "
       << Ms(delay_ns) << (c.after_idle ? " after the idle line" : " after start");
  if (run.kill_ns != 0) {
    head << " (" << Ms(run.kill_ns - run.log.pid_time_ns()) << " after start, cutoff "
         << Ms(run.kill_ns - kAllowedLossNs - run.log.pid_time_ns()) << ")";
  }
  KillResult result;
  std::string recording = run.problem.empty() ? RecordingOf(spec.output_dir, run.pid) : "";
  if (!run.problem.empty()) {
    result.issues.push_back("the run went wrong: " + run.problem);
  } else if (recording.empty()) {
    result.issues.push_back("no recording of pid " + std::to_string(run.pid) + " in " +
                            spec.output_dir);
  } else {
    result = Check(o, run, recording);
  }
  if (result.issues.empty()) {
    std::cout << "ok    " << head.str() << ": " << result.summary << std::endl;
    fs::remove_all(work, ec);
    return true;
  }
  std::cout << "FAIL  " << head.str() << "\n";
  for (const std::string& issue : result.issues) std::cout << "    " << issue << "\n";
  std::cout << "    allocwatch run " << DescribeStatus(run.run_status) << "; kept in "
            << Keep(o, work.string(), run, index) << std::endl;
  fs::remove_all(work, ec);
  return false;
}

}  // namespace
}  // namespace allocwatch::durability_test

int main(int argc, char** argv) {
  using namespace allocwatch::durability_test;
  Options o = ParseOptions(argc, argv);
  const Config& c = FindConfig(o.config);
  std::vector<int64_t> delays = KillDelaysNs(c, o);
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::absolute(o.keep_dir, ec) / (o.config + "_" + o.mode),
                              ec);  // failures of an earlier run
  std::cout << "durability " << o.config << "/" << o.mode << ": seed " << o.seed
            << " (rerun with --seed " << o.seed << " or ALLOCWATCH_DURABILITY_SEED=" << o.seed
            << "), " << delays.size() << " kills" << std::endl;
  int64_t start = NowNs();
  int failed = 0;
  for (size_t i = 0; i < delays.size(); ++i) {
    if (!OneKill(o, c, static_cast<int>(i), static_cast<int>(delays.size()), delays[i])) ++failed;
  }
  std::cout << "durability " << o.config << "/" << o.mode << ": " << failed << " of "
            << delays.size() << " kills failed, seed " << o.seed << ", "
            << static_cast<double>(NowNs() - start) / 1e9 << " s" << std::endl;
  return failed == 0 ? 0 : 1;
}
