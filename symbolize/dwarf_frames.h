// symbolize/dwarf_frames.h: one address of an opened Dwfl module -> source-level frames.
#pragma once

#include <elfutils/libdwfl.h>

#include <string>
#include <vector>

#include "symbolize/symbol_index.h"
#include "symbolize/symbolizer.h"

namespace allocwatch::symbolize::internal {

// Frames for `address` (in the Dwfl address space of `module`), innermost inline first and
// the real function last. Line info comes from DWARF; names fall back to the ELF symbol table
// (`symbols`, built from `module`; only a symbol whose size covers the address). Empty when
// nothing at all is known.
std::vector<Frame> FramesAt(Dwfl_Module* module, const SymbolIndex& symbols, Dwarf_Addr address);

}  // namespace allocwatch::symbolize::internal
