// tools/program_check.h: what `allocwatch run` can tell about a program before starting it.
//
// Offline (runs in allocwatch, not in the target). Reads at most the ELF header and program
// headers of the file; never executes anything.
#pragma once

#include <string>

namespace allocwatch::tools {

struct ProgramCheck {
  bool is_elf = false;
  bool is_static = false;     // ELF without a program interpreter: LD_PRELOAD cannot reach it
  bool secure = false;        // set-user-ID/set-group-ID to another user or group: the loader runs
                              // it in secure-execution mode and ignores LD_PRELOAD
  std::string secure_reason;  // "set-user-ID root", ...
};

// Inspects the executable at `path` (as found on PATH). Unreadable files give a default result.
ProgramCheck CheckProgram(const std::string& path);

}  // namespace allocwatch::tools
