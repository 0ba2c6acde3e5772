// preload/procfs/proc_text.h: parsers for the text of /proc and cgroupfs files.
//
// Hook-safe. Pure functions over caller-owned buffers: no allocation, no I/O, no global state,
// so tests feed them fake file contents. Numbers that cannot be parsed come back as
// format::kHeadroomUnknown.
#pragma once
#include "preload/base/hook_safe.h"

#include <cstddef>
#include <cstdint>

namespace allocwatch::preload {

inline constexpr size_t kCgroupPathMax = 384;

// The value after `key` at the start of a line of `text`: "Key:   123 kB" (status, meminfo)
// or "key 123" (vmstat, memory.events, memory.stat). The key must match the whole field.
// Returns kHeadroomUnknown when the key is missing or has no number.
uint64_t FindKeyValue(const char* text, const char* key);

// A cgroup limit file: "max" (v2) is unlimited; a v1 value at or above the largest page-aligned
// LONG_MAX for any page size (>= 2^62) is unlimited; "" or garbage is unknown.
uint64_t ParseCgroupValue(const char* text);

// memory.pressure / /proc/pressure/memory: the avg10 of the `some` or `full` line times 100
// and the full total (µs). Missing fields are unknown.
struct PressureFigures {
  uint64_t some_avg10_x100;
  uint64_t full_avg10_x100;
  uint64_t full_total_us;
};
PressureFigures ParsePressure(const char* text);

// /proc/self/cgroup: the memory controller's v1 path and the v2 ("0::") path, each with any
// " (deleted)" suffix removed. Named hierarchies (name=systemd) are not memory.
struct ProcCgroupPaths {
  bool has_v1_memory;
  bool has_v2;
  char v1_memory[kCgroupPathMax];
  char v2[kCgroupPathMax];
};
void ParseProcCgroup(const char* text, ProcCgroupPaths* out);

// One line of /proc/self/mountinfo (without its newline). Octal escapes (\040) in the root and
// the mount point are decoded. Returns false for a line that is not a cgroup mount.
struct CgroupMount {
  bool v2;         // cgroup2
  bool v1_memory;  // cgroup with "memory" in its super options
  char root[kCgroupPathMax];
  char mount_point[kCgroupPathMax];
};
bool ParseCgroupMountLine(const char* line, size_t size, CgroupMount* out);

// Feeds /proc/self/maps text in chunks of any size; counts mappings and finds the largest
// free gap between consecutive ones.
// Splits text fed in chunks of any size into lines, held in a fixed buffer of N bytes. A line
// longer than N - 1 bytes is cut there and handed on with `cut` set.
template <size_t N>
class LineSplitter {
 public:
  // Calls on_line(line, size, cut) for each line completed by `data` (without its '\n').
  template <typename OnLine>
  void Feed(const char* data, size_t size, OnLine on_line) {
    for (size_t i = 0; i < size; ++i) {
      char c = data[i];
      if (c == '\n') {
        on_line(static_cast<const char*>(line_), used_, cut_);
        used_ = 0;
        cut_ = false;
      } else if (used_ + 1 < N) {
        line_[used_++] = c;
      } else {
        cut_ = true;
      }
    }
  }
  // The last line, when the text did not end with '\n'.
  template <typename OnLine>
  void Finish(OnLine on_line) {
    if (used_ > 0) on_line(static_cast<const char*>(line_), used_, cut_);
    used_ = 0;
    cut_ = false;
  }

 private:
  char line_[N] = {};
  size_t used_ = 0;
  bool cut_ = false;
};

class MapsScanner {
 public:
  void Feed(const char* data, size_t size);
  void Finish();  // call once after the last Feed
  uint64_t map_count() const { return lines_ - (vsyscall_ ? 1 : 0); }
  uint64_t largest_gap() const { return largest_gap_; }
  bool has_vsyscall() const { return vsyscall_; }

  static constexpr uint64_t kStackGuardGap = 256 * 4096;  // the kernel default, 1 MiB
  static constexpr uint64_t kMmapMinAddr = 65536;
  static constexpr size_t kLineBytes = 256;

 private:
  void Line(const char* line, size_t size, bool cut);
  LineSplitter<kLineBytes> lines_in_;
  uint64_t lines_ = 0;
  bool vsyscall_ = false;
  uint64_t previous_end_ = kMmapMinAddr;
  uint64_t largest_gap_ = 0;
};

// Feeds /proc/PID/maps text in chunks of any size; finds the heaps of glibc's arenas other than
// the main one. glibc maps each such heap as 64 MiB (HEAP_MAX_SIZE on 64-bit) of anonymous
// memory aligned to 64 MiB, the part in use read-write and the rest PROT_NONE: a read-write
// anonymous mapping at a 64 MiB boundary whose run (it, then one inaccessible anonymous mapping
// right after it) ends at the next boundary. An arena grown past 64 MiB has more than one heap.
class ArenaHeapCounter {
 public:
  static constexpr uint64_t kHeapSize = uint64_t{64} << 20;
  void Feed(const char* data, size_t size);
  void Finish();  // call once after the last Feed
  uint64_t heaps() const { return heaps_; }

 private:
  void Line(const char* line, size_t size, bool cut);
  LineSplitter<MapsScanner::kLineBytes> lines_in_;
  uint64_t heaps_ = 0;
  uint64_t open_start_ = 0, open_end_ = 0;  // a read-write candidate waiting for its rest
  bool open_ = false;
};

// Feeds /proc/self/maps text in chunks of any size; finds the file mapped at one address, by
// the kernel's name for it (absolute, symbolic links resolved; a " (deleted)" suffix and the
// \012 escape of a newline undone). Lines longer than the buffer are skipped.
class MappedPathFinder {
 public:
  static constexpr size_t kMaxPath = 1024;

  void Start(uint64_t address);  // call before the first Feed
  void Feed(const char* data, size_t size);
  void Finish();  // call once after the last Feed
  // The path of the file mapping that covers the address, or "" when none does (anonymous,
  // [vdso], not in the text).
  const char* path() const { return path_; }

 private:
  void Line(const char* line, size_t size);
  uint64_t address_ = 0;
  LineSplitter<kMaxPath + 128> lines_in_;
  char path_[kMaxPath] = {};
};

// Copies `src` to `dst` (capacity `cap`), NUL-terminated; returns false if it did not fit.
bool CopyString(char* dst, size_t cap, const char* src);

}  // namespace allocwatch::preload
