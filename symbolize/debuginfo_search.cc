// symbolize/debuginfo_search.cc: build-id and .gnu_debuglink lookups for separate debug files.
#include "symbolize/debuginfo_search.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace allocwatch::symbolize::internal {
namespace {

constexpr char kSystemDebugRoot[] = "/usr/lib/debug";

// Table for the reflected CRC-32 (polynomial 0xEDB88320) that .gnu_debuglink records.
std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < table.size(); ++i) {
    uint32_t value = i;
    for (int bit = 0; bit < 8; ++bit) {
      value = (value & 1) != 0 ? (value >> 1) ^ 0xEDB88320u : value >> 1;
    }
    table[i] = value;
  }
  return table;
}

// CRC-32 of the whole file behind `fd`, read from its start. False on read errors.
bool FileCrc32(int fd, uint32_t* crc) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  std::array<unsigned char, 1 << 16> buffer;
  uint32_t value = 0xFFFFFFFFu;
  off_t offset = 0;
  for (;;) {
    ssize_t got = pread(fd, buffer.data(), buffer.size(), offset);
    if (got < 0) return false;
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      value = kTable[(value ^ buffer[i]) & 0xFFu] ^ (value >> 8);
    }
    offset += got;
  }
  *crc = value ^ 0xFFFFFFFFu;
  return true;
}

std::string DirName(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

// Places a .gnu_debuglink name is looked for, most specific first.
std::vector<std::string> DebuglinkCandidates(const DebuglinkContext& context,
                                             const std::string& file_name,
                                             const std::string& link) {
  const std::string dir = DirName(file_name);
  std::vector<std::string> candidates = {dir + "/" + link, dir + "/.debug/" + link};
  if (context.debug_roots != nullptr) {
    for (const std::string& root : *context.debug_roots) {
      candidates.push_back(root + context.recorded_dir + "/" + link);
    }
  }
  return candidates;
}

// Opens `path` if it is a different file from `file_name` and its CRC-32 is `crc`. Returns
// the descriptor or -1.
int OpenIfMatching(const std::string& path, const std::string& file_name, GElf_Word crc) {
  std::error_code error;
  if (std::filesystem::equivalent(path, file_name, error)) return -1;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint32_t actual = 0;
  if (!FileCrc32(fd, &actual) || actual != crc) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::vector<std::string> DebugRoots(const std::string& sysroot,
                                    const std::vector<std::string>& debug_dirs) {
  std::vector<std::string> roots;
  for (const std::string& dir : debug_dirs) {
    if (dir.empty()) continue;
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(dir, error);
    roots.push_back(error ? dir : absolute.lexically_normal().string());
  }
  if (!sysroot.empty()) roots.push_back(sysroot + kSystemDebugRoot);
  roots.push_back(kSystemDebugRoot);
  for (std::string& root : roots) {
    while (root.size() > 1 && root.back() == '/') root.pop_back();
  }
  return roots;
}

std::string JoinSearchPath(const std::vector<std::string>& roots) {
  std::string joined;
  for (const std::string& root : roots) {
    if (!joined.empty()) joined += ':';
    joined += root;
  }
  return joined;
}

std::string BuildIdDebugPath(const std::string& root, const std::string& build_id) {
  if (build_id.size() < 3) return "";
  return root + "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
}

std::string ModuleBuildId(Dwfl_Module* module) {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int length = dwfl_module_build_id(module, &bits, &vaddr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < length; ++i) {
    hex += kHex[bits[i] >> 4];
    hex += kHex[bits[i] & 0xF];
  }
  return hex;
}

int FindDebuginfo(Dwfl_Module* module, void** userdata, const char* module_name, Dwarf_Addr base,
                  const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                  char** debuginfo_file_name) {
  int fd = dwfl_build_id_find_debuginfo(module, userdata, module_name, base, file_name,
                                        debuglink_file, debuglink_crc, debuginfo_file_name);
  // A zero CRC comes with lookups of dwz alternate files, which only build-id can verify.
  if (fd >= 0 || debuglink_file == nullptr || debuglink_crc == 0 || file_name == nullptr ||
      userdata == nullptr || *userdata == nullptr) {
    return fd;
  }
  const auto& context = *static_cast<const DebuglinkContext*>(*userdata);
  for (const std::string& candidate : DebuglinkCandidates(context, file_name, debuglink_file)) {
    fd = OpenIfMatching(candidate, file_name, debuglink_crc);
    if (fd >= 0) {
      *debuginfo_file_name = strdup(candidate.c_str());
      return fd;
    }
  }
  return -1;
}

}  // namespace allocwatch::symbolize::internal
