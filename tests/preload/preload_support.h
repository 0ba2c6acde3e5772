// tests/preload/preload_support.h: running test programs (with or without liballocwatch.so)
// and reading what they recorded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "report/analysis/sites.h"
#include "report/reader/recording_reader.h"
#include "report/replay/model.h"

namespace allocwatch::preload_test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless
// ALLOCWATCH_TEST_KEEP is set in the environment (then its path is printed).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name, created (empty) when missing.
  std::string Sub(const std::string& name) const;

 private:
  std::string path_;
};

struct RunOptions {
  // Adds LD_PRELOAD=liballocwatch.so, ALLOCWATCH_SAMPLE_BYTES=sample_bytes,
  // ALLOCWATCH_OUTPUT_DIR=output_dir and ALLOCWATCH_INTERVAL_MS=interval_ms.
  bool preload = false;
  std::string output_dir;
  uint64_t interval_ms = 1000;
  uint64_t sample_bytes = 1;           // ALLOCWATCH_SAMPLE_BYTES (1: exact)
  std::string cwd;                     // working directory of the program (default: the test's)
  std::vector<std::string> extra_env;  // NAME=VALUE, added last
  int timeout_seconds = 30;
};

struct RunResult {
  pid_t pid = -1;
  int status = -1;  // wait status
  bool timed_out = false;
  std::string out;              // everything written to stdout (a regular file)
  std::string err;              // everything written to stderr (a regular file)
  uint64_t stdout_blksize = 0;  // st_blksize of the stdout file (glibc's stdout buffer size)

  bool ExitedWith(int code) const;
  std::string Describe() const;  // wait status and stderr, for failure messages
};

// Options for an exact-mode recording into `output_dir`.
RunOptions Exact(const std::string& output_dir);

// Runs argv[0] (a path) with argv, stdin from /dev/null, stdout and stderr captured. The
// environment is the test's own minus LD_PRELOAD and every ALLOCWATCH_* variable, plus what
// `options` adds. Kills the program (and fails) after options.timeout_seconds.
RunResult Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// The *.awtrace files in `dir`, sorted by name.
std::vector<std::string> Recordings(const std::string& dir);

// A run that exited with status 0 and left one recording in its options' output_dir.
struct OneRecordingRun {
  RunResult run;
  std::string recording;  // its path
};
// Run(argv, options), requiring exit status 0 and exactly one recording.
OneRecordingRun RunForOneRecording(const std::vector<std::string>& argv, const RunOptions& options);

// The line number of the line that ends with "// @<marker>" in programs/<file>; fails the test
// when there is none.
int MarkerLine(const std::string& file, const std::string& marker);

std::string Basename(const std::string& path);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

// Every record of a recording, in order (what RecordingReader hands out), plus its warning.
struct RawRecording {
  std::vector<report::RawRecord> records;
  std::optional<std::string> warning;
  bool clean_end = false;
};
RawRecording ReadRecords(const std::string& path);

template <typename T>
T As(const report::RawRecord& r) {
  T out{};
  std::memcpy(&out, r.bytes.data(), sizeof(T));
  return out;
}

// The heap/mapping entries of the recording's LiveRecords (the preload's own list at exit).
std::vector<format::LiveEntry> LiveEntries(const RawRecording& recording);

// Symbolized call sites of one process: report::GroupSites over model.per_stack with
// Grouping::kFirstOutsideRuntime and symbols on.
class Sites {
 public:
  explicit Sites(const report::ProcessModel& model);
  ~Sites();

  const std::vector<report::Site>& all() const { return sites_; }
  // Sites whose site frame is in `function`.
  std::vector<const report::Site*> Of(const std::string& function) const;
  // The figures of every site in `function`, added up.
  report::SiteFigures Sum(const std::string& function) const;
  // The one site in `function` at `line`, or nullptr.
  const report::Site* At(const std::string& function, int line) const;
  // Function names of all sites (empty string for a site without a function).
  std::set<std::string> Functions() const;
  // Symbolized frames of any stack of the process (failures' stacks, say).
  std::vector<report::DisplayFrame> Frames(report::StackId stack);
  report::StackSymbolizer& symbolizer() { return *symbols_; }

 private:
  const report::ProcessModel& model_;
  std::unique_ptr<report::StackSymbolizer> symbols_;
  std::vector<report::Site> sites_;
};

// The site frame of a site (the frame that names it).
const report::DisplayFrame& SiteFrame(const report::Site& site);

// True when some frame of `frames` is in `function`.
bool HasFunction(const std::vector<report::DisplayFrame>& frames, const std::string& function);
// True when the function name of some frame of `frames` contains `part`.
bool HasFunctionContaining(const std::vector<report::DisplayFrame>& frames,
                           const std::string& part);

// "function (file:line) [runtime]" per frame, one per line, for failure messages.
std::string DescribeFrames(const std::vector<report::DisplayFrame>& frames);
// Every site with its figures, one per line, for failure messages.
std::string DescribeSites(const std::vector<report::Site>& sites);

}  // namespace allocwatch::preload_test
