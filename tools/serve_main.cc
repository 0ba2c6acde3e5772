// tools/serve_main.cc: allocwatch-serve, the process `allocwatch serve` runs (tools/main.cc
// checks its options and executes this program, beside itself, with them).
//
// The HTTP server lives in a program of its own because Debian's cpp-httplib is linked with
// OpenSSL and brotli: loading those took about 10 ms at the start of every allocwatch command,
// `allocwatch run` among them. Usage: allocwatch-serve [--listen HOST:PORT]
// [--max-recordings N] [--] DIR...
#include <cstdio>
#include <cstdlib>
#include <string>

#include "CLI/CLI.hpp"
#include "preload/format/environment.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_st("allocwatch");
  logger->set_pattern("allocwatch: %^%l%$: %v");
  if (const char* level = std::getenv(allocwatch::format::env::kLogLevel)) {
    logger->set_level(spdlog::level::from_str(level));
  }
  spdlog::set_default_logger(logger);

  CLI::App app{"allocwatch-serve: the server of `allocwatch serve` (see allocwatch serve --help)",
               "allocwatch-serve"};
  allocwatch::tools::ServeCommandOptions serve;
  allocwatch::tools::AddServeOptions(&app, serve);
  CLI11_PARSE(app, argc, argv);
  return allocwatch::tools::RunServe(serve);
}
