// symbolize/debuginfo_search.h: where separate debug files are looked for.
//
// Two lookups: by GNU build-id (<root>/.build-id/xx/rest.debug) and by .gnu_debuglink name
// (next to the binary, in its .debug/ subdirectory, and under each debug root). The Dwfl
// find_debuginfo callback below does both without ever asking a debuginfod server.
#pragma once

#include <elfutils/libdwfl.h>

#include <string>
#include <vector>

namespace allocwatch::symbolize::internal {

// Per-module state handed to FindDebuginfo through the Dwfl module's userdata slot.
struct DebuglinkContext {
  const std::vector<std::string>* debug_roots = nullptr;  // absolute directories, in order
  std::string recorded_dir;  // directory of the module as recorded (without sysroot)
};

// Debug roots in search order: `debug_dirs` (made absolute), <sysroot>/usr/lib/debug when
// `sysroot` is set, then /usr/lib/debug.
std::vector<std::string> DebugRoots(const std::string& sysroot,
                                    const std::vector<std::string>& debug_dirs);

// Colon-separated form of `roots`, as Dwfl_Callbacks::debuginfo_path expects.
std::string JoinSearchPath(const std::vector<std::string>& roots);

// <root>/.build-id/<first two hex digits>/<rest>.debug; empty when `build_id` is too short.
std::string BuildIdDebugPath(const std::string& root, const std::string& build_id);

// Lower-case hex of the module's build-id; empty when it has none.
std::string ModuleBuildId(Dwfl_Module* module);

// Dwfl_Callbacks::find_debuginfo: build-id lookup through the debuginfo path, then the
// .gnu_debuglink name (CRC-checked) next to the file, in its .debug/ subdirectory and
// under each debug root. *userdata must be a DebuglinkContext.
int FindDebuginfo(Dwfl_Module* module, void** userdata, const char* module_name, Dwarf_Addr base,
                  const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                  char** debuginfo_file_name);

}  // namespace allocwatch::symbolize::internal
