// symbolize/dwarf_frames.cc: inline expansion of an address into frames with libdw.
//
// The innermost frame gets its file:line:column from the line table at the address. Each
// enclosing frame gets the call site recorded on the DW_TAG_inlined_subroutine it contains
// (DW_AT_call_file / DW_AT_call_line / DW_AT_call_column).
#include "symbolize/dwarf_frames.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <cstdlib>
#include <utility>

#include "symbolize/dwarf_names.h"

namespace allocwatch::symbolize::internal {
namespace {

bool IsFunctionTag(int tag) {
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

// Unsigned attribute of `die` itself; false when absent.
bool UnsignedAttr(Dwarf_Die* die, unsigned int name, Dwarf_Word* value) {
  Dwarf_Attribute attribute;
  return dwarf_formudata(dwarf_attr(die, name, &attribute), value) == 0;
}

// Sets the caller's location from the call-site attributes of the inlined instance.
void ApplyCallSite(Dwarf_Die* inlined, Frame* caller) {
  Dwarf_Word value = 0;
  if (UnsignedAttr(inlined, DW_AT_call_line, &value)) caller->line = static_cast<int>(value);
  if (UnsignedAttr(inlined, DW_AT_call_column, &value)) caller->column = static_cast<int>(value);
  if (!UnsignedAttr(inlined, DW_AT_call_file, &value)) return;
  Dwarf_Die cu;
  Dwarf_Files* files = nullptr;
  size_t file_count = 0;
  if (dwarf_diecu(inlined, &cu, nullptr, nullptr) == nullptr ||
      dwarf_getsrcfiles(&cu, &files, &file_count) != 0 || value >= file_count) {
    return;
  }
  const char* file = dwarf_filesrc(files, value, nullptr, nullptr);
  if (file != nullptr) caller->file = file;
}

// The innermost DWARF scope containing `address`; false when no CU or scope covers it.
bool InnermostScope(Dwfl_Module* module, Dwarf_Addr address, Dwarf_Die* scope) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, address, &bias);
  if (cu == nullptr) return false;
  Dwarf_Die* scopes = nullptr;
  int count = dwarf_getscopes(cu, address - bias, &scopes);
  if (count > 0) *scope = scopes[0];
  free(scopes);
  return count > 0;
}

// Function frames from the DWARF scope chain (names and call sites; the innermost location
// is filled in by the caller).
std::vector<Frame> InlineChain(Dwfl_Module* module, Dwarf_Addr address) {
  std::vector<Frame> frames;
  Dwarf_Die innermost;
  if (!InnermostScope(module, address, &innermost)) return frames;
  Dwarf_Die* chain = nullptr;
  int count = dwarf_getscopes_die(&innermost, &chain);
  Dwarf_Die* pending_call = nullptr;  // inlined instance whose call site is the next frame's
  for (int i = 0; i < count; ++i) {
    Dwarf_Die* die = &chain[i];
    int tag = dwarf_tag(die);
    if (!IsFunctionTag(tag)) continue;
    Frame frame;
    frame.function = FunctionName(die);
    if (pending_call != nullptr) ApplyCallSite(pending_call, &frame);
    frames.push_back(std::move(frame));
    if (tag != DW_TAG_inlined_subroutine) break;
    pending_call = die;
  }
  free(chain);
  return frames;
}

// Line-table location of `address`, stored into `frame`.
void ApplyLineInfo(Dwfl_Module* module, Dwarf_Addr address, Frame* frame) {
  Dwfl_Line* line = dwfl_module_getsrc(module, address);
  if (line == nullptr) return;
  int line_number = 0;
  int column = 0;
  const char* file = dwfl_lineinfo(line, nullptr, &line_number, &column, nullptr, nullptr);
  if (file == nullptr) return;
  frame->file = file;
  frame->line = line_number;
  frame->column = column;
}

}  // namespace

std::vector<Frame> FramesAt(Dwfl_Module* module, const SymbolIndex& symbols, Dwarf_Addr address) {
  std::vector<Frame> frames = InlineChain(module, address);
  if (frames.empty()) frames.emplace_back();
  ApplyLineInfo(module, address, &frames.front());
  if (frames.back().function.empty()) {
    const char* name = symbols.Find(address);
    if (name != nullptr) frames.back().function = Demangle(name);
  }
  if (frames.size() == 1 && frames[0].function.empty() && frames[0].file.empty()) return {};
  for (size_t i = 0; i + 1 < frames.size(); ++i) frames[i].inlined = true;
  return frames;
}

}  // namespace allocwatch::symbolize::internal
