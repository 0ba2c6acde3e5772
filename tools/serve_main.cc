// tools/serve_main.cc: allocwatch-serve, the process `allocwatch serve` runs (tools/main.cc
// checks its options and executes this program, beside itself, with them).
//
// The HTTP server lives in a program of its own because Debian's cpp-httplib is linked with
// OpenSSL and brotli: loading those took about 10 ms at the start of every allocwatch command,
// `allocwatch run` among them. Usage: allocwatch-serve [--listen HOST:PORT]
// [--max-recordings N] [--] DIR...
#include "CLI/CLI.hpp"
#include "tools/commands.h"

int main(int argc, char** argv) {
  allocwatch::tools::SetUpLogging();
  CLI::App app{"allocwatch-serve: the server of `allocwatch serve` (see allocwatch serve --help)",
               "allocwatch-serve"};
  allocwatch::tools::ServeCommandOptions serve;
  allocwatch::tools::AddServeOptions(&app, serve);
  CLI11_PARSE(app, argc, argv);
  return allocwatch::tools::RunServe(serve);
}
