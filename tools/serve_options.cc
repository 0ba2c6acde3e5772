// tools/serve_options.cc: what allocwatch and allocwatch-serve share: the log's set-up,
// allocwatch serve's options, and the hand-over from one to the other.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "preload/format/environment.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"

namespace allocwatch::tools {

std::string ProgramPath() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

std::string ProgramDirectory() { return std::filesystem::path(ProgramPath()).parent_path(); }

void SetUpLogging() {
  auto logger = spdlog::stderr_logger_st("allocwatch");
  logger->set_pattern("allocwatch: %^%l%$: %v");
  if (const char* level = std::getenv(format::env::kLogLevel)) {
    logger->set_level(spdlog::level::from_str(level));
  }
  spdlog::set_default_logger(logger);
}

void AddServeOptions(CLI::App* cmd, ServeCommandOptions& o) {
  cmd->add_option("--listen", o.listen,
                  "HOST:PORT to listen on (default 127.0.0.1:6060; the profiles show call "
                  "stacks: another address only behind authentication)");
  cmd->add_option("--max-recordings", o.max_recordings, "Recordings followed at most")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  cmd->add_option("dirs", o.dirs, "Directories of recordings (allocwatch run -o DIR)")
      ->required()
      ->check(CLI::ExistingDirectory);
}

int ExecServe(const ServeCommandOptions& o) {
  std::string server = (std::filesystem::path(ProgramDirectory()) / "allocwatch-serve").string();
  std::vector<std::string> args = {server, "--max-recordings", std::to_string(o.max_recordings)};
  if (!o.listen.empty()) args.insert(args.end(), {"--listen", o.listen});
  args.push_back("--");
  args.insert(args.end(), o.dirs.begin(), o.dirs.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execv(server.c_str(), argv.data());
  std::fprintf(
      stderr, "allocwatch serve: cannot run %s: %s (it is built and installed beside allocwatch)\n",
      server.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace allocwatch::tools
