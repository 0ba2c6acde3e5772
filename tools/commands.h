// tools/commands.h: the allocwatch subcommands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace allocwatch::tools {

struct ReportCommandOptions {
  std::vector<std::string> recordings;  // files or directories
  std::string format = "text";          // text | json
  std::string output;                   // empty: stdout
  size_t top = 10;
  bool symbols = true;
  std::string sysroot;
  std::vector<std::string> debug_dirs;
  std::string group_by = "site";        // site | function | stack
  std::string metric = "inuse_space";   // folded: what the values count
  std::optional<double> since_seconds;  // keep allocations from then on
  std::optional<double> until_seconds;  // stop the replay then
  std::optional<uint32_t> thread;       // keep allocations of this thread only
  std::string suppressions;             // file of patterns; matching stacks are left out
  std::optional<uint64_t> limit_bytes;  // memory limit for the time-to-limit projection
  bool follow = false;                  // re-render the text report every interval
  double follow_interval = 2.0;
  std::string colour = "auto";          // auto | always | never
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
  bool no_children = false;
  std::string report_file;  // empty: stderr
  std::string format = "text";
  size_t top = 10;
};

// Each returns the process exit status for allocwatch.
int RunReport(const ReportCommandOptions& options);
int RunDiff(const DiffCommandOptions& options);

// "64M", "1.5G", "4096": bytes (K, M, G, T are powers of 1024); false when not a size.
bool ParseByteSize(const std::string& text, uint64_t* bytes);
int RunRun(const RunCommandOptions& options);

}  // namespace allocwatch::tools
