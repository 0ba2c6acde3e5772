// preload/hooks/attach.h: recording a process that did not start with the library.
//
// allocwatch attach (tools/attach_command.cc) loads liballocwatch.so into a running process
// with dlopen and calls allocwatch_attach(settings) there. The library is then not first in
// symbol order, so the program's calls to the wrapped functions still reach the C library.
// Attaching routes them here instead by rewriting the GOT entries (JUMP_SLOT and GLOB_DAT
// relocations) that name a wrapped function, in every loaded module but liballocwatch.so, the
// dynamic loader and the vDSO; the timer thread does the same for modules loaded later.
// Detaching (allocwatch detach, a TailControl command served by the timer thread) writes every
// rewritten entry back as it was, in the modules still loaded, and ends the recording. The
// library stays loaded: a pointer to a wrapper taken meanwhile stays valid and passes through.
//
// Not hook-safe: dl_iterate_phdr and mprotect, from the attaching thread (which allocwatch
// attach stopped at a system call, holding no lock) and from the timer thread only.
#pragma once
#include "preload/base/hook_safe.h"

namespace allocwatch::preload {

// Whether the dynamic loader resolves the wrapped names to this library (LD_PRELOAD or
// /etc/ld.so.preload), rather than the library having been loaded by dlopen.
bool LoadedFirstInSymbolOrder();

// Rewrites the GOT entries of every loaded module; returns how many point here now.
int RouteAllModules();

// Rewrites those of modules loaded since the last call (cheap when none was).
void RouteNewModules();

// Writes every rewritten entry back as it was, in the modules still loaded.
void RestoreRoutes();

}  // namespace allocwatch::preload
