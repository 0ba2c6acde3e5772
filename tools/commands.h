// tools/commands.h: the allocwatch subcommands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
int RunRun(const RunCommandOptions& options);

}  // namespace allocwatch::tools
