// preload/procfs/cgroup_reader.h: the process's memory cgroup, its limits and headroom.
//
// Hook-safe: open/read into fixed buffers (on the caller's stack), no allocation, no locks.
// Thread-safe (no shared state). Every path is read under `root` ("" for the real file system;
// tests point it at a fake tree), including the mount points named in mountinfo.
//
// Finds the memory controller's hierarchy (v1 if /proc/self/cgroup has a v1 line listing memory
// and such a mount exists, which is also the choice on hybrid hosts; else cgroup2 when its
// cgroup.controllers lists memory), resolves the process's directory through mountinfo (mount
// root versus cgroup path, as cgroup namespaces and bind mounts require) and walks from it up
// to the mount point. Usage is charged to every ancestor, so the headroom is the minimum over
// the levels of (limit - usage), not the smallest limit minus the leaf's usage.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstdint>

#include "preload/format/record_format.h"
#include "preload/procfs/proc_text.h"

namespace allocwatch::preload {

inline constexpr size_t kFsPathMax = 2 * kCgroupPathMax + 128;

struct CgroupReading {
  uint32_t version;        // format::kCgroup*
  uint32_t flags;          // format::kCgroupFlag*
  uint32_t level_count;    // levels stored (leaf first)
  uint32_t total_levels;   // levels from the leaf to the mount point
  uint32_t binding_level;  // level with the least headroom; UINT32_MAX when none is limited
  uint64_t headroom;       // kHeadroomUnlimited when no level is limited
  uint64_t effective_limit;
  char path[kCgroupPathMax];  // the process's path in the hierarchy (/proc/self/cgroup)
  char dir[kFsPathMax];       // the leaf's directory, root prefix included
  format::CgroupLevel levels[format::kMaxCgroupLevels];
};

// Fills `out`. A missing limit file means "no limit at this level" (the v2 root has none);
// an unreadable one (EACCES, garbage) is unknown, never unlimited. `proc` names the process's
// /proc directory ("/proc/self", or "/proc/PID" for another process). `max_levels`: read no
// more levels than this from the leaf up (1: the leaf's alone); the figures (headroom,
// total_levels...) then cover only those.
void ReadCgroup(const char* root, CgroupReading* out, const char* proc = "/proc/self",
                uint32_t max_levels = UINT32_MAX);

// Reads root + path (path starting with '/') into buf (NUL-terminated). Returns the byte count,
// or -1 with *error set to the errno of the failure (ENOENT, EACCES...) and buf empty.
long ReadRootedFile(const char* root, const char* path, char* buf, size_t size, int* error);

}  // namespace allocwatch::preload
