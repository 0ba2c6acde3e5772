// report/sites.h: symbolized stacks and their grouping into call sites.
//
// Offline. Not thread-safe. A call site is, by default, the first frame outside the C and C++
// runtime (libc, libstdc++, libgcc, the loader, std:: and operator new internals), so that a
// leak through std::vector is reported where the program called into the vector.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "report/model.h"
#include "report/symbol_table.h"
#include "symbolize/symbolizer.h"

namespace allocwatch::report {

struct DisplayFrame {
  std::string function;  // empty when unknown
  std::string file;
  int line = 0;
  bool inlined = false;
  std::string module;    // path of the module, empty when none covered the address
  uint64_t address = 0;  // runtime return address
  uint64_t module_offset = 0;
  bool runtime = false;  // in the C/C++ runtime (skipped when choosing the site)
};

// Symbolizes stacks, each distinct (module, address) once. Every recorded frame is a return
// address (the preload drops its own frames, so even the first one is where a call into
// malloc & co. returns to) and is looked up at address - 1.
class StackSymbolizer {
 public:
  // With `enabled` false every frame is shown as module+offset.
  StackSymbolizer(symbolize::Options options, bool enabled);
  ~StackSymbolizer();

  // Answers from `table` (made by `allocwatch symbolize`) come before the binaries: its
  // modules are matched by path and build-id; addresses it lacks, and modules it could not
  // match, are symbolized from the binaries as usual. Ignored when symbols are off.
  void AddTable(const SymbolTable& table);

  std::vector<DisplayFrame> Frames(const ProcessModel& model, StackId stack);
  std::vector<std::string> Warnings() const;
  // Work done by the binary symbolizer; null when symbols are off.
  const symbolize::Stats* stats() const;

 private:
  using AddressFrames = absl::flat_hash_map<uint64_t, std::vector<symbolize::Frame>>;
  // What Lookup needs of a module, kept per ModuleInfo so that a lookup copies no string.
  struct ModuleEntry {
    symbolize::ModuleRef ref;
    const AddressFrames* table = nullptr;  // from the symbol tables, if any
  };
  // Frames of `elf_address` in `mod`: from a table when one knows them, else from the binary.
  const std::vector<symbolize::Frame>& Lookup(const ModuleInfo& mod, uint64_t elf_address);

  std::unique_ptr<symbolize::Symbolizer> symbolizer_;
  // (path, build-id) -> ELF address -> frames, from symbol tables.
  absl::flat_hash_map<std::pair<std::string, std::string>, AddressFrames> tables_;
  absl::flat_hash_map<const ModuleInfo*, ModuleEntry> module_entries_;
};

enum class Grouping { kFirstOutsideRuntime, kAllocatingFunction, kFullStack };

struct Site {
  std::string key;
  std::vector<DisplayFrame> frames;  // of the heaviest stack in the group, innermost first
  size_t site_frame = 0;             // index into frames of the frame that names the site
  SiteFigures figures;
  size_t stack_count = 0;
  std::vector<StackId> stacks;       // the stacks grouped here
};

// Groups per-stack figures into sites. `weight` ranks stacks within a site to choose the one
// shown.
std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping);

// "function (file:line)" or "module+0xoffset" or "0xaddress".
std::string DescribeFrame(const DisplayFrame& frame);

}  // namespace allocwatch::report
