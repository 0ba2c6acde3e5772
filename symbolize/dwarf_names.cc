// symbolize/dwarf_names.cc: demangled or DWARF-qualified function names.
//
// GCC omits DW_AT_linkage_name for some functions that exist only inlined (lambda call
// operators, for instance); their names are rebuilt from the DIE's enclosing scopes.
#include "symbolize/dwarf_names.h"

#include <cxxabi.h>
#include <dwarf.h>

#include <cstdlib>
#include <cstring>

// demangle.h declares basename() itself unless told that <string.h> did.
#define HAVE_DECL_BASENAME 1
#include <libiberty/demangle.h>

namespace allocwatch::symbolize::internal {
namespace {

constexpr int kMaxReferenceHops = 8;
constexpr int kMaxNestedFunctions = 4;

std::string NameAtDepth(Dwarf_Die* die, int depth);

// String attribute, following DW_AT_abstract_origin and DW_AT_specification.
const char* IntegratedString(Dwarf_Die* die, unsigned int name) {
  Dwarf_Attribute attribute;
  return dwarf_formstring(dwarf_attr_integrate(die, name, &attribute));
}

// The DIE that declares the entity `die` describes (end of the origin/specification chain).
Dwarf_Die Declaration(Dwarf_Die die) {
  for (int hop = 0; hop < kMaxReferenceHops; ++hop) {
    Dwarf_Attribute attribute;
    Dwarf_Die next;
    if (dwarf_formref_die(dwarf_attr(&die, DW_AT_abstract_origin, &attribute), &next) == nullptr &&
        dwarf_formref_die(dwarf_attr(&die, DW_AT_specification, &attribute), &next) == nullptr) {
      break;
    }
    die = next;
  }
  return die;
}

// How an enclosing scope appears in a qualified name; empty for scopes that do not appear
// (compile units, lexical blocks).
std::string ScopeName(Dwarf_Die* scope, const std::string& child_name, int depth) {
  const char* name = dwarf_diename(scope);
  switch (dwarf_tag(scope)) {
    case DW_TAG_namespace:
      return name != nullptr ? name : "(anonymous namespace)";
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
      if (name != nullptr) return name;
      return child_name == "operator()" ? "{lambda}" : "{unnamed type}";
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_entry_point:
      return NameAtDepth(scope, depth + 1);
    default:
      return "";
  }
}

// `name` prefixed with the scopes enclosing the declaration of `die`, up to and including
// the nearest enclosing function (whose own name is already qualified).
std::string Qualify(Dwarf_Die* die, const std::string& name, int depth) {
  Dwarf_Die declaration = Declaration(*die);
  Dwarf_Die* chain = nullptr;
  int count = dwarf_getscopes_die(&declaration, &chain);
  std::string qualified = name;
  for (int i = 1; i < count; ++i) {
    std::string part = ScopeName(&chain[i], i == 1 ? name : "", depth);
    if (!part.empty()) qualified = part + "::" + qualified;
    int tag = dwarf_tag(&chain[i]);
    if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) break;
  }
  free(chain);
  return qualified;
}

std::string NameAtDepth(Dwarf_Die* die, int depth) {
  const char* linkage = IntegratedString(die, DW_AT_linkage_name);
  if (linkage == nullptr) linkage = IntegratedString(die, DW_AT_MIPS_linkage_name);
  if (linkage != nullptr) return Demangle(linkage);
  const char* name = IntegratedString(die, DW_AT_name);
  if (name == nullptr) return "";
  return depth < kMaxNestedFunctions ? Qualify(die, name, depth) : name;
}

}  // namespace

std::string Demangle(const char* name) {
  // Rust's names: v0 ("_R...") and legacy (a C++-like "_ZN...E" whose last part is a hash,
  // "17h" and 16 hex digits, which rust_demangle leaves out; it refuses any other name).
  if (std::strncmp(name, "_R", 2) == 0 || std::strncmp(name, "_ZN", 3) == 0) {
    if (char* rust = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI)) {
      std::string result = rust;
      free(rust);
      return result;
    }
  }
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string result = (status == 0 && demangled != nullptr) ? demangled : name;
  free(demangled);
  return result;
}

std::string FunctionName(Dwarf_Die* die) { return NameAtDepth(die, 0); }

}  // namespace allocwatch::symbolize::internal
