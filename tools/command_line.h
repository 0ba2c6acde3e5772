// tools/command_line.h: usage errors of the allocwatch command. An argument that is not an
// option of its command is an error (exit status 2) before the command starts: never skipped,
// and never a reason to skip the options after it.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace allocwatch::tools {

// `allocwatch run [options] [--] PROGRAM ARGS...` split at the end of run's options.
struct RunArguments {
  int options_end = 0;               // argv index just past run's options (and their values)
  std::vector<std::string> program;  // PROGRAM ARGS..., empty when none was given
  std::string unknown;               // the first option that is not run's, or empty
};

// Reads argv from run_index + 1 (argv[run_index] is "run") as `run`'s options, each option that
// takes a value with its value (`-o DIR`, `-oDIR`, `--output-dir=DIR`). The options end at a
// "--" (the program is what follows it) or at the first argument that does not begin with '-'
// (the program and its arguments, options included). Stops at the first option `run` does not
// have. A program whose name begins with '-' needs the "--".
RunArguments SplitRunArguments(const CLI::App& run, int argc, const char* const* argv,
                               int run_index);

// The first argument CLI11 could not place in `app` (the command was set to allow_extras), or
// empty when there is none. A "--" is not one: what follows it is positional.
std::string FirstExtra(const CLI::App& app);

// Writes "allocwatch COMMAND: unknown option 'ARG'" (or "unexpected argument 'ARG'" for one
// that is not an option) and the command's usage to stderr; returns the exit status, 2.
// COMMAND empty: the argument came before any command.
int UsageError(const std::string& command, const std::string& argument);

}  // namespace allocwatch::tools
