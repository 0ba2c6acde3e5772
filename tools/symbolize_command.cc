// tools/symbolize_command.cc: `allocwatch symbolize RECORDING...`: writes RECORDING.awsym.
#include <chrono>
#include <cstdio>

#include "report/reader/recording_reader.h"
#include "report/replay/model.h"
#include "report/symbols/symbol_table.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/recordings.h"

namespace allocwatch::tools {
namespace {

// Symbolizes one recording into its table; false (after logging) when it cannot.
bool SymbolizeRecording(const std::string& file, const SymbolizeCommandOptions& options) {
  report::ProcessModel model;
  try {
    model = report::LoadProcess(file);
  } catch (const report::ReadError& e) {
    spdlog::error("{}", e.what());
    return false;
  }
  for (const std::string& w : model.warnings) spdlog::warn("{}: {}", file, w);
  auto start = std::chrono::steady_clock::now();
  symbolize::Symbolizer symbolizer({options.sysroot, options.debug_dirs});
  report::SymbolTable table = report::BuildSymbolTable(model, symbolizer);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& w : symbolizer.Warnings()) spdlog::warn("{}", w);
  std::string table_path = report::SymbolTablePath(file);
  try {
    report::WriteSymbolTable(table, table_path);
  } catch (const report::SymbolTableError& e) {
    spdlog::error("{}", e.what());
    return false;
  }
  size_t unmatched = 0;
  for (const report::SymbolTableModule& m : table.modules) unmatched += m.matched ? 0 : 1;
  std::fprintf(stderr,
               "%s: %zu distinct addresses in %zu modules (%zu not matched), %llu looked up, "
               "symbolized in %.3f s\n",
               table_path.c_str(), table.entries.size(), table.modules.size(), unmatched,
               static_cast<unsigned long long>(symbolizer.stats().dwarf_lookups), seconds);
  return true;
}

}  // namespace

int RunSymbolize(const SymbolizeCommandOptions& options) {
  bool ok = true;
  std::vector<std::string> files = ExpandRecordings(options.recordings, &ok);
  for (const std::string& file : files) ok = SymbolizeRecording(file, options) && ok;
  return ok && !files.empty() ? 0 : 1;
}

}  // namespace allocwatch::tools
