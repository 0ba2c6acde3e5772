// preload/hooks/module_map.h: the loaded ELF modules, written to the recording as they come
// and go (start-up, dlopen, dlclose, and a rescan at every snapshot for loads done by libc
// itself).
//
// Hook-safe (dl_iterate_phdr into fixed buffers; records are written after it returns).
// Thread-safe: one spinlock around a rescan.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

namespace allocwatch::preload {

// Compares the loaded modules with the ones already written and writes ModuleLoad /
// ModuleUnload records for the difference.
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
