// report/analysis/process_memory.h: where a running process's resident memory is, read from
// outside it (its /proc/PID/smaps and status texts), for `allocwatch doctor --pid`; and the
// names of runtimes and allocators that keep a heap of their own, shared with the report.
//
// Offline. Pure: functions of the texts given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace allocwatch::report {

// A process's mappings weighed by what they are. Bytes.
struct ProcessMemory {
  // /proc/PID/status
  uint64_t rss_anon = 0, rss_file = 0, rss_shmem = 0, swap = 0;
  uint32_t threads = 0;
  // Resident anonymous memory by kind of mapping (smaps Rss).
  uint64_t main_heap_rss = 0;   // [heap]: glibc's main arena (brk)
  uint64_t arena_rss = 0;       // the heaps of glibc's other arenas (64 MiB-aligned)
  uint32_t arena_heaps = 0;     // how many such heaps
  uint64_t stack_rss = 0;       // [stack] and thread stacks (a mapping above a guard page)
  uint32_t thread_stacks = 0;   // thread stacks found (the main one not counted)
  uint64_t other_anon_rss = 0;  // every other private anonymous mapping
  uint64_t file_rss = 0;        // file-backed mappings (code, data files)
  uint64_t shared_rss = 0;      // shared memory: MAP_SHARED anonymous, SysV, memfd, /dev/shm
  uint64_t reserved_bytes = 0;  // inaccessible (---p) anonymous address space, guard pages too
  uint64_t mappings = 0;        // mappings read
  std::vector<std::string> own_heaps;  // runtimes and allocators found (OwnHeapName)
};

// Reads a /proc/PID/smaps text and a /proc/PID/status text; texts that are not what they
// should be give zeros, never an error.
ProcessMemory ReadProcessMemory(const std::string& smaps, const std::string& status);

// A named cause of a process's resident memory, with the figures that decided it and the remedy.
struct ProcessMemoryFinding {
  std::string what;
  std::string fix;
};
std::vector<ProcessMemoryFinding> ProcessMemoryFindings(const ProcessMemory& m);

// The name of a runtime or allocator with a heap of its own whose module or executable path
// contains a known part (libjemalloc, libtcmalloc, libjvm.so, chromium, ...), or "".
std::string OwnHeapName(const std::string& path);

}  // namespace allocwatch::report
