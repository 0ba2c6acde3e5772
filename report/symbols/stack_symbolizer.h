// report/symbols/stack_symbolizer.h: a recorded stack as the frames a report shows (function, file,
// line, module), through the symbol tables of `allocwatch symbolize` and the symbolizer.
//
// Offline. Not thread-safe. This is where the report reads files: the first time a module is
// looked up its ELF file and debug files are opened (by symbolize::Symbolizer), unless a
// symbol table knows the address. Results are cached per (module, address), so the same
// stack always gives the same frames.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "report/replay/model.h"
#include "report/symbols/symbol_table.h"
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
  // Looks up the frames of `stack` that a report will need, so that it finds them cached (the
  // files are opened now, not when the report is built): with `whole`, every frame whose
  // module is known (for Frames()); else those of FramesThroughSite(), which names the
  // stack's site (a text report shows whole only the stacks of the sites it lists), and one
  // frame of each module above the site that no lookup opened yet.
  void Prepare(const ProcessModel& model, StackId stack, bool whole);
  // The first of Frames() up to and including the first outside the runtime (all of them when
  // every one is in it): what names a call site, built without the frames above it.
  std::vector<DisplayFrame> FramesThroughSite(const ProcessModel& model, StackId stack);
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
  // Whether `entry` is that of `mod`: a ModuleInfo at a reused address (another model) is
  // noticed by its path and build-id.
  static bool Matches(const ModuleEntry& entry, const ModuleInfo& mod) {
    return entry.ref.path == mod.path && entry.ref.build_id == mod.build_id;
  }
  // Frames() that stop after the first frame outside the runtime when `through_site`.
  std::vector<DisplayFrame> BuildFrames(const ProcessModel& model, StackId stack,
                                        bool through_site);
  // Frames of `elf_address` in `mod`: from a table when one knows them, else from the binary.
  const std::vector<symbolize::Frame>& Lookup(const ModuleInfo& mod, uint64_t elf_address);

  std::unique_ptr<symbolize::Symbolizer> symbolizer_;
  // (path, build-id) -> ELF address -> frames, from symbol tables.
  absl::flat_hash_map<std::pair<std::string, std::string>, AddressFrames> tables_;
  absl::flat_hash_map<const ModuleInfo*, ModuleEntry> module_entries_;
};

// "function (file:line)" or "module+0xoffset" or "0xaddress".
std::string DescribeFrame(const DisplayFrame& frame);

}  // namespace allocwatch::report
