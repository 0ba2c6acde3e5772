// symbolize/symbolizer.h: addresses in a recorded module -> functions, files, lines.
//
// Offline only (never loaded into a target). Not thread-safe: one Symbolizer per thread.
// Built on elfutils libdw (Dwfl). Results are cached per (module, address).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace allocwatch::symbolize {

// A module as the recording describes it.
struct ModuleRef {
  std::string path;      // path at recording time, e.g. /usr/lib/x86_64-linux-gnu/libc.so.6
  std::string build_id;  // lower-case hex of the GNU build-id note; empty when the module had none
};

// One source-level frame. A machine address expands to one or more of these when code was
// inlined: the innermost inlined function comes first, the outermost (real) function last.
struct Frame {
  std::string function;  // demangled; empty when unknown
  std::string file;      // full path from DWARF; empty when unknown
  int line = 0;          // 0 when unknown
  int column = 0;        // 0 when unknown
  bool inlined = false;  // true for every frame but the last of an expansion
};

// Work done so far, for tests and benchmarks: each distinct (module, lookup address) costs one
// DWARF lookup; repeated requests are answered from the cache.
struct Stats {
  uint64_t requests = 0;        // Symbolize() calls
  uint64_t dwarf_lookups = 0;   // addresses looked up in a module (cache misses)
  uint64_t modules_opened = 0;  // modules matched and opened
};

struct Options {
  std::string sysroot;  // prefix for module paths of recordings from another machine
  std::vector<std::string> debug_dirs;  // extra roots for .build-id/xx/yyyy.debug lookups
};

class Symbolizer {
 public:
  explicit Symbolizer(Options options = {});
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Symbolizes `elf_address` in `module`. `elf_address` is the address in the ELF file's own
  // virtual address space (runtime address minus the module's load bias). When
  // `is_return_address` is true the lookup is done at elf_address - 1 (inside the call
  // instruction, which may belong to another line or even another function than the
  // instruction after it); otherwise at elf_address itself (an interrupted instruction, such
  // as the first frame of a stack taken from a signal context).
  // Never throws for a missing or mismatched file: returns an empty vector, and the first such
  // failure for a module is reported once through Warnings().
  // The reference stays valid as long as the Symbolizer.
  const std::vector<Frame>& Symbolize(const ModuleRef& module, uint64_t elf_address,
                                      bool is_return_address);

  // Warnings collected so far (one per module that could not be opened or matched).
  const std::vector<std::string>& Warnings() const;

  const Stats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allocwatch::symbolize
