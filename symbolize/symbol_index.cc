// symbolize/symbol_index.cc: see symbol_index.h.
#include "symbolize/symbol_index.h"

#include <algorithm>

namespace allocwatch::symbolize::internal {

SymbolIndex::SymbolIndex(Dwfl_Module* module) {
  int count = dwfl_module_getsymtab(module);
  for (int i = 1; i < count; ++i) {
    GElf_Sym symbol;
    GElf_Addr address = 0;
    GElf_Word section = 0;
    const char* name =
        dwfl_module_getsym_info(module, i, &symbol, &address, &section, nullptr, nullptr);
    if (name == nullptr || name[0] == '\0' || symbol.st_size == 0 || section == SHN_UNDEF) {
      continue;
    }
    int type = GELF_ST_TYPE(symbol.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE && type != STT_OBJECT) {
      continue;
    }
    int binding = GELF_ST_BIND(symbol.st_info);
    int rank = binding == STB_GLOBAL ? 2 : binding == STB_WEAK ? 1 : 0;
    entries_.push_back(Entry{address, address + symbol.st_size, name, rank});
  }
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.start != b.start ? a.start < b.start : a.rank < b.rank;
  });
  max_end_.resize(entries_.size());
  Dwarf_Addr max_end = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    max_end = std::max(max_end, entries_[i].end);
    max_end_[i] = max_end;
  }
}

const char* SymbolIndex::Find(Dwarf_Addr address) const {
  // Last entry starting at or below the address, then back while an earlier one may cover it.
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](Dwarf_Addr a, const Entry& e) { return a < e.start; });
  for (size_t i = static_cast<size_t>(it - entries_.begin()); i-- > 0;) {
    if (max_end_[i] <= address) break;  // nothing at or before i reaches the address
    if (entries_[i].end > address) return entries_[i].name;
  }
  return nullptr;
}

}  // namespace allocwatch::symbolize::internal
