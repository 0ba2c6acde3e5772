// symbolize/dwarf_frames.h: one address of an opened Dwfl module -> source-level frames.
#pragma once

#include <elfutils/libdwfl.h>

#include <string>
#include <vector>

#include "symbolize/symbolizer.h"

namespace allocwatch::symbolize::internal {

// Frames for `address` (in the Dwfl address space of `module`), innermost inline first and
// the real function last. Line info comes from DWARF; names fall back to the ELF symbol table
// (only a symbol whose size covers the address). Empty when nothing at all is known.
std::vector<Frame> FramesAt(Dwfl_Module* module, Dwarf_Addr address);

}  // namespace allocwatch::symbolize::internal
