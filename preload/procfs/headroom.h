// preload/procfs/headroom.h: the headroom snapshot recorded with every failed allocation.
//
// Hook-safe: getrlimit, open/read into fixed buffers on the caller's stack (about 16 KiB), no
// allocation, no locks; it works when the heap is unusable. Thread-safe. Every file is read
// under a root prefix ("" for the real file system) so tests can point the reader at a fake
// tree; in the preload the prefix comes from ALLOCWATCH_FS_ROOT, read once at start-up.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/format/record_format.h"
#include "preload/procfs/cgroup_reader.h"

namespace allocwatch::preload {

struct HeadroomSnapshot {
  format::HeadroomRecord record;  // header and time_ns are left for the caller to fill
  CgroupReading cgroup;
};

// Takes a snapshot. `huge_page_kb` is the huge page size the call asked for (0: none), whose
// pool figures are then read; with `scan_maps` false, /proc/self/maps is not read (map_count
// and largest_gap_bytes are unknown) to keep periodic snapshots cheap.
void TakeHeadroom(const char* root, uint64_t huge_page_kb, bool scan_maps, HeadroomSnapshot* out);

// The memory lines of /proc/self/status (RssAnon, RssFile, RssShmem, VmSwap, Threads) into
// `out`'s rss_*, swap_bytes and threads; false (nothing set) when the file cannot be read.
bool ReadStatusMemory(const char* root, format::MemoryRecord* out);

// The heaps of glibc's arenas other than the main one in /proc/self/maps (ArenaHeapCounter);
// false when the file cannot be read.
bool CountArenaHeaps(const char* root, uint64_t* heaps);

// The huge page size (KiB) an mmap with `flags` asks for: 0 without MAP_HUGETLB, the
// MAP_HUGE_* size when given, else the default from meminfo's Hugepagesize (read under root).
uint64_t HugePageKbForFlags(const char* root, int flags);

// The root prefix used by the preload (start-up only: not thread-safe to set).
void SetFsRoot(const char* root);
const char* FsRoot();

}  // namespace allocwatch::preload
