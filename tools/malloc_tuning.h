// tools/malloc_tuning.h: transparent huge pages for the allocwatch command's own heap.
//
// A report builds its tables (live blocks, stacks, per-stack figures) in many small steps:
// a real program's recording takes a few hundred MB, a page fault each 4 KiB. Where the kernel
// gives transparent huge pages only to memory that asks for them ("madvise", Debian's
// default), glibc's malloc asks when GLIBC_TUNABLES says glibc.malloc.hugetlb=1, which it
// reads only as the program starts. The report of a g++ compile's recording: 1.45 -> 1.0 s,
// 60 000 page faults -> 7 000.
#pragma once

namespace allocwatch::tools {

// For the commands that replay recordings offline (report, diff), unless RestoreEnvironment()
// returned true: execs allocwatch again, once, with glibc.malloc.hugetlb=1 added to
// GLIBC_TUNABLES, when the kernel's setting is "madvise" and the tunable is not set already.
// Returns (without exec) otherwise, or if the exec fails. Not for `run`: the exec would add
// 4 ms to the start of every program it runs.
void ExecWithHugePages(char** argv);

// In the allocwatch that ExecWithHugePages started: puts GLIBC_TUNABLES back as it was (glibc
// read it at start-up), so that nothing allocwatch starts sees the change, and returns true.
// Call first thing in main.
bool RestoreEnvironment();

}  // namespace allocwatch::tools
