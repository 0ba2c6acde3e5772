// tools/process_maps.cc: see process_maps.h.
#include "tools/process_maps.h"

#include <fstream>
#include <sstream>

namespace allocwatch::tools {

std::vector<MappedFile> MappedFiles(int pid) {
  std::vector<MappedFile> out;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  constexpr std::string_view kDeleted = " (deleted)";
  for (std::string line; std::getline(maps, line);) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    MappedFile f;
    f.path = line.substr(slash);
    if (f.path.size() > kDeleted.size() &&
        f.path.compare(f.path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
      f.path.resize(f.path.size() - kDeleted.size());
      f.deleted = true;
    }
    std::istringstream fields(line);
    std::string perms, offset;
    fields >> f.range >> perms >> offset;
    f.start = std::stoull(f.range.substr(0, f.range.find('-')), nullptr, 16);
    f.offset = std::stoull(offset, nullptr, 16);
    out.push_back(std::move(f));
  }
  return out;
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace allocwatch::tools
