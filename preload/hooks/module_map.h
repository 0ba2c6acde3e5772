// preload/hooks/module_map.h: the loaded ELF modules, written to the recording as they come
// and go (start-up, dlopen, dlclose, and a rescan at every snapshot for loads done by libc
// itself).
//
// Hook-safe (dl_iterate_phdr into fixed buffers; records are written after it returns; for a
// module the loader names by a relative path, /proc/self/maps read with system calls).
// Thread-safe: one spinlock around a rescan.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

namespace allocwatch::preload {

// Compares the loaded modules with the ones already written and writes ModuleLoad /
// ModuleUnload records for the difference. Every path written is absolute: a module loaded
// by a relative path (dlopen("./x.so"), a relative LD_LIBRARY_PATH entry) is written under
// the path of the file mapped at its start, so the reader can place and symbolize its frames.
// The vdso (no file) is not written.
void RescanModules(uint64_t time_ns);

// How many times a rescan has found modules gone. A stack interned before may hold addresses
// that now belong to another module loaded at the same place, so the stack table gives stacks
// of a new generation ids of their own (written after the ModuleUnload records).
uint32_t ModuleUnloadGeneration();

// Forget every written module (a fork child starts a new recording and writes them again).
void ForgetModulesInChild();

// Address range of liballocwatch.so's own code, to drop its frames from stacks.
void SelfCodeRange(uint64_t* start, uint64_t* end);

}  // namespace allocwatch::preload
