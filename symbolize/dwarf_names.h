// symbolize/dwarf_names.h: human-readable function names from DWARF DIEs.
#pragma once

#include <elfutils/libdw.h>

#include <string>

namespace allocwatch::symbolize::internal {

// Demangles an Itanium C++ ABI name ("_Z...") or a Rust name (v0 "_R...", or legacy, without
// its hash); returns other names unchanged.
std::string Demangle(const char* name);

// Name of a DW_TAG_subprogram / DW_TAG_inlined_subroutine / DW_TAG_entry_point DIE: the
// demangled linkage name (following abstract origins and specifications); otherwise DW_AT_name
// qualified by the enclosing namespaces, classes and functions (an unnamed class holding
// operator() is shown as "{lambda}"). Empty when the DIE has no name at all.
std::string FunctionName(Dwarf_Die* die);

}  // namespace allocwatch::symbolize::internal
