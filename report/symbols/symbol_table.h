// report/symbols/symbol_table.h: the symbol table of one recording (`RECORDING.awsym`), written by
// `allocwatch symbolize` so that the recording can be reported on where its binaries are not.
//
// Offline. The file is a JSON document (format "allocwatch.symbols", version 1; described in
// report/symbols/README.md). It maps every distinct return address of the recording's stacks, as
// (module path, build-id, ELF address), to the frames the symbolizer gave for it, and lists the
// modules that could not be matched together with the warning that said why.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "report/replay/model.h"
#include "symbolize/symbolizer.h"

namespace allocwatch::report {

inline constexpr char kSymbolTableFormat[] = "allocwatch.symbols";
inline constexpr int kSymbolTableVersion = 1;

// A symbol table file that cannot be read, is not a symbol table, has another version, or
// belongs to another recording.
class SymbolTableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SymbolTableModule {
  std::string path;
  std::string build_id;  // lower-case hex; empty when the module had none
  bool matched = true;   // false: no file with this build-id was found when symbolizing
  std::string warning;   // why it was not matched
};

struct SymbolTable {
  // The recording it was made from (its process record).
  uint32_t pid = 0;
  uint64_t session_id = 0;
  uint64_t start_realtime_ns = 0;
  std::vector<SymbolTableModule> modules;
  // (index into modules, ELF address as recorded: a return address) -> frames, innermost
  // first; empty when the module was matched but nothing covers the address.
  std::map<std::pair<uint32_t, uint64_t>, std::vector<symbolize::Frame>> entries;
};

// "RECORDING.awsym".
std::string SymbolTablePath(const std::string& recording);

// Symbolizes every distinct address of `model`'s stacks that lies in a module.
SymbolTable BuildSymbolTable(const ProcessModel& model, symbolize::Symbolizer& symbolizer);

// Writes `table` to `path` (through a temporary file renamed into place). Throws
// SymbolTableError when it cannot.
void WriteSymbolTable(const SymbolTable& table, const std::string& path);

// Reads and checks a symbol table. Throws SymbolTableError with a message naming `path`.
SymbolTable ReadSymbolTable(const std::string& path);

// Throws SymbolTableError when `table` was not made from the recording `model` was read from.
void CheckTableMatches(const SymbolTable& table, const ProcessModel& model,
                       const std::string& table_path);

}  // namespace allocwatch::report
