// tools/process_maps.h: the files a running process maps, from /proc/PID/maps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace allocwatch::tools {

struct MappedFile {
  std::string range;  // "start-end" as the line gives it: the name under /proc/PID/map_files
  uint64_t start = 0;
  uint64_t offset = 0;   // in the file
  std::string path;      // as /proc/PID/maps names it, without " (deleted)"
  bool deleted = false;  // the file was removed since it was mapped
};

// The file-backed mappings of process `pid`, in address order; empty when its maps cannot be
// read (no such process, or no permission).
std::vector<MappedFile> MappedFiles(int pid);

// The last component of a mapped file's path ("libc.so.6").
std::string BaseName(const std::string& path);

}  // namespace allocwatch::tools
