// tools/program_check.cc: see program_check.h.
#include "tools/program_check.h"

#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace allocwatch::tools {
namespace {

bool ReadAt(int fd, uint64_t offset, void* out, size_t size) {
  ssize_t n = pread(fd, out, size, static_cast<off_t>(offset));
  return n == static_cast<ssize_t>(size);
}

// True when the ELF file has a PT_INTERP program header. Both classes, the host's byte order.
template <typename Ehdr, typename Phdr>
bool HasInterpreter(int fd, bool* ok) {
  Ehdr eh{};
  *ok = false;
  if (!ReadAt(fd, 0, &eh, sizeof(eh))) return false;
  if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096) return false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph{};
    if (!ReadAt(fd, eh.e_phoff + uint64_t{i} * sizeof(Phdr), &ph, sizeof(ph))) return false;
    if (ph.p_type == PT_INTERP) {
      *ok = true;
      return true;
    }
  }
  *ok = true;
  return false;
}

std::string UserName(uid_t uid) {
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(4096);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return "uid " + std::to_string(uid);
}

std::string GroupName(gid_t gid) {
  group gr{}, *found = nullptr;
  std::vector<char> buf(4096);
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return "gid " + std::to_string(gid);
}

}  // namespace

ProgramCheck CheckProgram(const std::string& path) {
  ProgramCheck check;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return check;
  if ((st.st_mode & S_ISUID) != 0 && st.st_uid != geteuid()) {
    check.secure = true;
    check.secure_reason = "set-user-ID " + UserName(st.st_uid);
  } else if ((st.st_mode & S_ISGID) != 0 && (st.st_mode & S_IXGRP) != 0 && st.st_gid != getegid()) {
    check.secure = true;
    check.secure_reason = "set-group-ID " + GroupName(st.st_gid);
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return check;
  unsigned char ident[EI_NIDENT] = {};
  if (ReadAt(fd, 0, ident, sizeof(ident)) && std::memcmp(ident, ELFMAG, SELFMAG) == 0) {
    bool ok = false;
    bool interp = ident[EI_CLASS] == ELFCLASS64 ? HasInterpreter<Elf64_Ehdr, Elf64_Phdr>(fd, &ok)
                                                : HasInterpreter<Elf32_Ehdr, Elf32_Phdr>(fd, &ok);
    check.is_elf = ok;
    check.is_static = ok && !interp;
  }
  close(fd);
  return check;
}

}  // namespace allocwatch::tools
