// symbolize/symbol_index.h: the ELF symbols of one Dwfl module, sorted for address lookups.
//
// libdwfl's dwfl_module_addrinfo scans the whole symbol table on every call, which dominates
// symbolization of large programs without DWARF (a compiler, say). This index is built once per
// module (O(n log n)) and answers each address with a binary search.
#pragma once

#include <elfutils/libdwfl.h>

#include <vector>

namespace allocwatch::symbolize::internal {

class SymbolIndex {
 public:
  // Reads every defined, sized code or data symbol of `module` (.symtab, else .dynsym, and
  // the auxiliary table of minidebuginfo). Names point into the module's string tables and
  // live as long as the Dwfl session.
  explicit SymbolIndex(Dwfl_Module* module);

  // Raw (mangled) name of the symbol whose extent covers `address` (a Dwfl address): the one
  // starting closest below it, a global one before a weak one before a local one at equal
  // start. Null when no sized symbol covers it.
  const char* Find(Dwarf_Addr address) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Dwarf_Addr start;
    Dwarf_Addr end;
    const char* name;
    int rank;  // 2 global, 1 weak, 0 local
  };
  std::vector<Entry> entries_;       // by start, then rank ascending
  std::vector<Dwarf_Addr> max_end_;  // max_end_[i]: largest end among entries_[0..i]
};

}  // namespace allocwatch::symbolize::internal
