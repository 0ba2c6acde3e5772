// tools/command_line.cc: see command_line.h.
#include "tools/command_line.h"

#include <cstdio>

namespace allocwatch::tools {
namespace {

bool IsOption(const std::string& arg) { return arg.size() >= 2 && arg[0] == '-'; }

// The option named by `arg`: "--name" (before any '='), or "-x" for a short option.
std::string OptionName(const std::string& arg) {
  if (arg.rfind("--", 0) == 0) return arg.substr(0, arg.find('='));
  return arg.substr(0, 2);
}

// How an unknown argument is named in a message: a long option without its "=VALUE".
std::string Shown(const std::string& arg) {
  return arg.rfind("--", 0) == 0 ? arg.substr(0, arg.find('=')) : arg;
}

// Flags expect no value (CLI11 sets their expected count to 0, their type size stays 1).
bool TakesValue(const CLI::Option& option) { return option.get_items_expected_max() > 0; }

const char* Usage(const std::string& command) {
  if (command == "run") return "allocwatch run [options] -- PROGRAM ARGS...";
  if (command == "report") return "allocwatch report [options] RECORDING|DIR...";
  if (command == "diff") return "allocwatch diff [options] BASE NEW";
  if (command == "symbolize") return "allocwatch symbolize [options] RECORDING|DIR...";
  if (command == "doctor") return "allocwatch doctor [--pid PID] [--json] [--root DIR]";
  return "allocwatch run|report|diff|symbolize|doctor [options] ...";
}

// Checks the flags grouped after the first one in "-xyz"; returns the first unknown one.
std::string UnknownGroupedFlag(const CLI::App& run, const std::string& arg) {
  for (size_t i = 2; i < arg.size(); ++i) {
    const CLI::Option* flag = run.get_option_no_throw(std::string{'-', arg[i]});
    if (flag == nullptr || TakesValue(*flag)) return std::string{'-', arg[i]};
  }
  return "";
}

}  // namespace

RunArguments SplitRunArguments(const CLI::App& run, int argc, const char* const* argv,
                               int run_index) {
  RunArguments out;
  int i = run_index + 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      out.options_end = i;
      out.program.assign(argv + i + 1, argv + argc);
      return out;
    }
    if (!IsOption(arg)) break;  // the program
    const std::string name = OptionName(arg);
    const CLI::Option* option = run.get_option_no_throw(name);
    if (option == nullptr) {
      out.unknown = arg;
      break;
    }
    const bool long_option = arg.rfind("--", 0) == 0;
    const bool value_attached = long_option ? arg.size() > name.size() : arg.size() > 2;
    if (TakesValue(*option)) {
      if (!value_attached) ++i;  // the next argument is its value, whatever it looks like
    } else if (value_attached && !long_option) {
      out.unknown = UnknownGroupedFlag(run, arg);
      if (!out.unknown.empty()) break;
    }
  }
  out.options_end = i < argc ? i : argc;
  if (out.unknown.empty() && i < argc) out.program.assign(argv + i, argv + argc);
  return out;
}

std::string FirstExtra(const CLI::App& app) {
  for (const std::string& extra : app.remaining()) {
    if (extra != "--") return extra;  // CLI11 keeps the "--" that ended the options there too
  }
  return "";
}

int UsageError(const std::string& command, const std::string& argument) {
  const std::string prefix = command.empty() ? "allocwatch" : "allocwatch " + command;
  const char* what = IsOption(argument) ? "unknown option"
                     : command.empty()  ? "unknown command"
                                        : "unexpected argument";
  std::fprintf(stderr, "%s: %s '%s'\nusage: %s\n(%s --help lists the options)\n", prefix.c_str(),
               what, Shown(argument).c_str(), Usage(command), prefix.c_str());
  return 2;
}

}  // namespace allocwatch::tools
