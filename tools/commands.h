// tools/commands.h: the allocwatch subcommands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/analysis/gates.h"

namespace CLI {
class App;
}  // namespace CLI

namespace allocwatch::tools {

struct ReportCommandOptions {
  std::vector<std::string> recordings;  // files or directories
  std::string format = "text";          // text | json | html
  std::string output;                   // empty: stdout
  size_t top = 10;
  bool symbols = true;
  std::string sysroot;
  std::vector<std::string> debug_dirs;
  std::string group_by = "site";        // site | function | stack
  bool symbol_tables = true;            // use RECORDING.awsym when present
  std::string metric = "inuse_space";   // folded: what the values count
  std::optional<double> since_seconds;  // keep allocations from then on
  std::optional<double> until_seconds;  // stop the replay then
  std::optional<uint32_t> thread;       // keep allocations of this thread only
  std::string suppressions;             // file of patterns; matching stacks are left out
  std::optional<uint64_t> limit_bytes;  // memory limit for the time-to-limit projection
  bool follow = false;                  // re-render the text report every interval
  double follow_interval = 2.0;
  std::string colour = "auto";  // auto | always | never
};

struct SymbolizeCommandOptions {
  std::vector<std::string> recordings;  // files or directories
  std::string sysroot;
  std::vector<std::string> debug_dirs;
};

struct DiffCommandOptions {
  std::string base;  // recording or directory
  std::string next;
  std::string format = "text";  // text | json
  std::string output;
  size_t top = 20;
  bool symbols = true;
  std::string sysroot;
  std::vector<std::string> debug_dirs;
  std::string group_by = "site";
  std::string colour = "auto";
};

struct RunCommandOptions {
  std::vector<std::string> command;  // program and its arguments
  std::string output_dir = ".";
  std::optional<uint64_t> sample_bytes;
  bool exact = false;
  double interval_seconds = 1.0;
  unsigned write_budget_percent = 5;  // sampled mode: the period doubles above this share
  std::string brink = "10,5,2";       // headroom thresholds (percent of a limit), or "off"
  bool no_children = false;
  bool no_report = false;   // only record; list the recordings
  std::string report_file;  // empty: stderr
  std::string format = "text";
  size_t top = 10;
  report::GateLimits gates;  // --fail-on-leak, --max-peak, --fail-on-failed-alloc
  int gate_status = 23;      // as LeakSanitizer's exit code
  bool paused = false;       // start with recording off (allocwatch ctl turns it on)
};

struct AttachCommandOptions {
  int pid = 0;
  std::string output_dir = ".";  // as the process sees it
  std::optional<uint64_t> sample_bytes;
  bool exact = false;
  double interval_seconds = 1.0;
  double duration_seconds = 0;  // 0: until Ctrl-C, allocwatch detach, or the process ends
  bool no_wait = false;         // attach, then return; allocwatch detach ends the recording
  bool no_report = false;
  std::string library;  // liballocwatch.so as the process sees it; empty: allocwatch's own
  double timeout_seconds = 10.0;  // for a thread to reach a system call where it can be borrowed
  std::string format = "text";
  size_t top = 10;
};

struct CtlCommandOptions {
  int pid = 0;
  std::string command;           // start | stop | snapshot
  double timeout_seconds = 5.0;  // how long to wait for the process to carry it out
};

struct ServeCommandOptions {
  std::string listen;             // HOST:PORT; empty: 127.0.0.1:6060
  std::vector<std::string> dirs;  // directories of recordings
  size_t max_recordings = 1024;   // recordings followed at most
};

struct DoctorCommandOptions {
  int pid = 0;  // 0: allocwatch's own process (its cgroup and limits)
  bool json = false;
  std::string root;  // read every file under this directory (tests)
};

// Each returns the process exit status for allocwatch.
int RunReport(const ReportCommandOptions& options);
int RunDiff(const DiffCommandOptions& options);

// "64M", "1.5G", "4096": bytes (K, M, G, T are powers of 1024); false when not a size.
bool ParseByteSize(const std::string& text, uint64_t* bytes);
int RunRun(const RunCommandOptions& options);
int RunDoctor(const DoctorCommandOptions& options);
int RunSymbolize(const SymbolizeCommandOptions& options);
int RunCtl(const CtlCommandOptions& options);
int RunAttach(const AttachCommandOptions& options);

// liballocwatch.so beside the allocwatch command (or ALLOCWATCH_PRELOAD); empty when not found.
std::string FindPreload();
// The recording a process writes now, from its tail file among its mappings; empty when none.
std::string RecordingOfProcess(int pid);
// The running program's executable (/proc/self/exe, resolved); empty when it cannot be read.
std::string ProgramPath();
// Its directory, where liballocwatch.so and allocwatch-serve are found beside allocwatch.
std::string ProgramDirectory();
// The "allocwatch: LEVEL: message" log on stderr (ALLOCWATCH_LOG_LEVEL), for allocwatch and
// allocwatch-serve.
void SetUpLogging();
// allocwatch serve's options, for tools/main.cc and allocwatch-serve (tools/serve_main.cc).
void AddServeOptions(CLI::App* cmd, ServeCommandOptions& options);
// allocwatch serve: runs allocwatch-serve, beside this program, with `options` (returns only
// when it cannot, with an error printed).
int ExecServe(const ServeCommandOptions& options);
// The server itself (allocwatch-serve).
int RunServe(const ServeCommandOptions& options);

}  // namespace allocwatch::tools
