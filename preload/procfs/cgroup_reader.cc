// preload/procfs/cgroup_reader.cc: see cgroup_reader.h.
#include "preload/procfs/cgroup_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload/base/raw_io.h"

namespace allocwatch::preload {
namespace {

constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;

bool Join(char* out, size_t cap, const char* a, const char* b, const char* c = "") {
  size_t na = std::strlen(a), nb = std::strlen(b), nc = std::strlen(c);
  if (na + nb + nc + 1 > cap) return false;
  std::memcpy(out, a, na);
  std::memcpy(out + na, b, nb);
  std::memcpy(out + na + nb, c, nc + 1);
  return true;
}

bool IsDirectory(const char* path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  close(fd);
  return true;
}

struct Mounts {
  bool have_v1;
  bool have_v2;
  CgroupMount v1;
  CgroupMount v2;
  size_t v2_match;  // length of the v2 mount root that prefixes the cgroup path
};

bool RootPrefixes(const char* mount_root, const char* path, size_t* length) {
  size_t n = std::strlen(mount_root);
  if (n == 1 && mount_root[0] == '/') {
    *length = 1;
    return true;
  }
  if (std::strncmp(path, mount_root, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
    *length = n;
    return true;
  }
  return false;
}

__attribute__((noinline)) void ScanMountinfo(const char* root, const char* proc,
                                             const ProcCgroupPaths& paths, Mounts* m) {
  m->have_v1 = m->have_v2 = false;
  m->v2_match = 0;
  char file[kFsPathMax];
  if (!Join(file, sizeof(file), root, proc, "/mountinfo")) return;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char chunk[2048];
  char line[1024];
  size_t used = 0;
  bool overflow = false;
  CgroupMount mount;
  auto line_done = [&] {
    if (!overflow && ParseCgroupMountLine(line, used, &mount)) {
      size_t match = 0;
      if (mount.v1_memory && !m->have_v1) {
        m->v1 = mount;
        m->have_v1 = true;
      } else if (mount.v2 && (!m->have_v2 || (RootPrefixes(mount.root, paths.v2, &match) &&
                                              match > m->v2_match))) {
        if (!m->have_v2) RootPrefixes(mount.root, paths.v2, &match);
        m->v2 = mount;
        m->v2_match = match;
        m->have_v2 = true;
      }
    }
    used = 0;
    overflow = false;
  };
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (chunk[i] == '\n') {
        line_done();
      } else if (used + 1 < sizeof(line)) {
        line[used++] = chunk[i];
      } else {
        overflow = true;
      }
    }
  }
  if (used > 0) line_done();
  close(fd);
}

// The leaf directory: mount point + the part of `path` below the mount's root.
void ResolveDir(const char* root, const CgroupMount& mount, const char* path, CgroupReading* out,
                char* base, size_t base_cap, const char** rel) {
  Join(base, base_cap, root, std::strcmp(mount.mount_point, "/") == 0 ? "" : mount.mount_point);
  size_t n = std::strlen(mount.root);
  if (n == 1 && mount.root[0] == '/') {
    *rel = std::strcmp(path, "/") == 0 ? "" : path;
  } else if (std::strcmp(path, mount.root) == 0) {
    *rel = "";
  } else if (std::strncmp(path, mount.root, n) == 0 && path[n] == '/') {
    *rel = path + n;
  } else {
    // The mount was made from another namespace (or bind-mounted): keep the longest trailing
    // part of the path that exists under the mount point.
    *rel = "";
    out->flags |= format::kCgroupFlagUnresolved;
    for (const char* p = path; *p != '\0'; ++p) {
      if (*p != '/' || p[1] == '\0' || (p[1] == '.' && p[2] == '.')) continue;
      char candidate[kFsPathMax];
      if (Join(candidate, sizeof(candidate), base, p) && IsDirectory(candidate)) {
        *rel = p;
        out->flags &= ~format::kCgroupFlagUnresolved;
        break;
      }
    }
  }
}

// A limit: a missing file is "no limit here", any other failure unknown.
uint64_t ReadLimit(const char* dir, const char* name) {
  char file[kFsPathMax];
  char buf[64];
  int error = 0;
  if (!Join(file, sizeof(file), dir, "/", name)) return kUnknown;
  if (ReadRootedFile("", file, buf, sizeof(buf), &error) < 0) {
    return error == ENOENT ? kUnlimited : kUnknown;
  }
  return ParseCgroupValue(buf);
}

uint64_t ReadValue(const char* dir, const char* name) {
  char file[kFsPathMax];
  char buf[64];
  int error = 0;
  if (!Join(file, sizeof(file), dir, "/", name)) return kUnknown;
  if (ReadRootedFile("", file, buf, sizeof(buf), &error) < 0) return kUnknown;
  uint64_t v = ParseCgroupValue(buf);
  return v == kUnlimited ? kUnknown : v;
}

void ReadKeys(const char* dir, const char* name, char* buf, size_t cap) {
  char file[kFsPathMax];
  int error = 0;
  buf[0] = '\0';
  if (Join(file, sizeof(file), dir, "/", name)) ReadRootedFile("", file, buf, cap, &error);
}

__attribute__((noinline)) format::CgroupLevel ReadLevel(const char* dir, uint32_t version,
                                                        uint32_t* flags, bool leaf) {
  format::CgroupLevel l{kUnknown, kUnknown, kUnknown, kUnknown,
                        kUnknown, kUnknown, kUnknown, kUnknown};
  char keys[1024];
  if (version == format::kCgroupV2) {
    l.limit = ReadLimit(dir, "memory.max");
    l.usage = ReadValue(dir, "memory.current");
    l.high = ReadLimit(dir, "memory.high");
    l.swap_limit = ReadLimit(dir, "memory.swap.max");
    l.swap_usage = ReadValue(dir, "memory.swap.current");
    ReadKeys(dir, "memory.events", keys, sizeof(keys));
    l.events_max = FindKeyValue(keys, "max");
    l.events_oom = FindKeyValue(keys, "oom");
    l.events_oom_kill = FindKeyValue(keys, "oom_kill");
  } else {
    l.limit = ReadLimit(dir, "memory.limit_in_bytes");
    l.usage = ReadValue(dir, "memory.usage_in_bytes");
    l.swap_limit = ReadLimit(dir, "memory.memsw.limit_in_bytes");
    l.swap_usage = ReadValue(dir, "memory.memsw.usage_in_bytes");
    l.events_max = ReadValue(dir, "memory.failcnt");
    ReadKeys(dir, "memory.oom_control", keys, sizeof(keys));
    l.events_oom_kill = FindKeyValue(keys, "oom_kill");
    if (leaf && FindKeyValue(keys, "oom_kill_disable") == 1) {
      *flags |= format::kCgroupFlagOomKillDisable;
    }
    if (leaf && FindKeyValue(keys, "under_oom") == 1) *flags |= format::kCgroupFlagUnderOom;
  }
  return l;
}

bool ControllersHaveMemory(const char* dir) {
  char buf[512];
  ReadKeys(dir, "cgroup.controllers", buf, sizeof(buf));
  for (const char* p = buf; (p = std::strstr(p, "memory")) != nullptr; p += 6) {
    bool start = p == buf || p[-1] == ' ';
    bool end = p[6] == '\0' || p[6] == ' ' || p[6] == '\n';
    if (start && end) return true;
  }
  return false;
}

}  // namespace

long ReadRootedFile(const char* root, const char* path, char* buf, size_t size, int* error) {
  char file[kFsPathMax];
  *error = ENAMETOOLONG;
  if (size == 0) return -1;
  if (!Join(file, sizeof(file), root, path)) {
    buf[0] = '\0';
    return -1;
  }
  return ReadSmallFile(file, buf, size, error);
}

void ReadCgroup(const char* root, CgroupReading* out, const char* proc, uint32_t max_levels) {
  out->version = format::kCgroupNone;
  out->flags = 0;
  out->level_count = out->total_levels = 0;
  out->binding_level = UINT32_MAX;
  out->headroom = kUnlimited;
  out->effective_limit = kUnlimited;
  out->path[0] = out->dir[0] = '\0';

  char text[2048];
  int error = 0;
  char file[128];
  if (!Join(file, sizeof(file), proc, "/cgroup") ||
      ReadRootedFile(root, file, text, sizeof(text), &error) < 0) {
    return;
  }
  ProcCgroupPaths paths;
  ParseProcCgroup(text, &paths);
  Mounts mounts;
  ScanMountinfo(root, proc, paths, &mounts);

  const CgroupMount* mount = nullptr;
  char base[kFsPathMax];
  if (paths.has_v1_memory && mounts.have_v1) {
    out->version = format::kCgroupV1;
    if (paths.has_v2 && mounts.have_v2) out->flags |= format::kCgroupFlagHybrid;
    mount = &mounts.v1;
    CopyString(out->path, sizeof(out->path), paths.v1_memory);
  } else if (paths.has_v2 && mounts.have_v2) {
    Join(base, sizeof(base), root, mounts.v2.mount_point);
    if (!ControllersHaveMemory(base)) return;
    out->version = format::kCgroupV2;
    mount = &mounts.v2;
    CopyString(out->path, sizeof(out->path), paths.v2);
  } else {
    return;
  }
  const char* rel = "";
  ResolveDir(root, *mount, out->path, out, base, sizeof(base), &rel);
  char relative[kCgroupPathMax];
  CopyString(relative, sizeof(relative), rel);
  Join(out->dir, sizeof(out->dir), base, relative);

  // Leaf first, then each parent, ending with the mount point itself.
  for (uint32_t level = 0;; ++level) {
    char dir[kFsPathMax];
    Join(dir, sizeof(dir), base, relative);
    format::CgroupLevel l = ReadLevel(dir, out->version, &out->flags, level == 0);
    if (level < format::kMaxCgroupLevels) {
      out->levels[level] = l;
      out->level_count = level + 1;
    } else {
      out->flags |= format::kCgroupFlagTruncated;
    }
    out->total_levels = level + 1;
    if (l.limit != kUnlimited && l.limit != kUnknown) {
      if (l.limit < out->effective_limit) out->effective_limit = l.limit;
      if (l.usage != kUnknown) {
        uint64_t room = l.limit > l.usage ? l.limit - l.usage : 0;
        if (room < out->headroom) {
          out->headroom = room;
          out->binding_level = level;
        }
      }
    }
    char* slash = std::strrchr(relative, '/');
    if (relative[0] == '\0' || slash == nullptr || level > 64 || level + 1 >= max_levels) break;
    *slash = '\0';
  }
}

}  // namespace allocwatch::preload
