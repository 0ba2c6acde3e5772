// preload/procfs/headroom.cc: see headroom.h.
#include "preload/procfs/headroom.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/procfs/proc_text.h"

namespace allocwatch::preload {
namespace {

constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;

constinit char g_fs_root[512] = {};

// The readers below each keep a file's text on the stack; they are not inlined, so their
// buffers are live one at a time: a snapshot needs about 16 KiB of the caller's stack.
#define ALLOCWATCH_NOINLINE __attribute__((noinline))

ALLOCWATCH_NOINLINE uint64_t VmstatOomKill(const char* root) {
  char vmstat[8192];
  int error = 0;
  if (ReadRootedFile(root, "/proc/vmstat", vmstat, sizeof(vmstat), &error) < 0) return kUnknown;
  return FindKeyValue(vmstat, "oom_kill");
}

ALLOCWATCH_NOINLINE uint64_t DefaultHugePageKb(const char* root) {
  char meminfo[4096];
  int error = 0;
  if (ReadRootedFile(root, "/proc/meminfo", meminfo, sizeof(meminfo), &error) < 0) return kUnknown;
  return FindKeyValue(meminfo, "Hugepagesize");
}

ALLOCWATCH_NOINLINE void ReadPressure(const char* root, const CgroupReading& cg,
                                      format::HeadroomRecord* r) {
  char pressure[512];
  int error = 0;
  long got = -1;
  if (cg.version == format::kCgroupV2) {
    char file[kFsPathMax + 20];
    size_t n = std::strlen(cg.dir);
    std::memcpy(file, cg.dir, n);
    std::memcpy(file + n, "/memory.pressure", sizeof("/memory.pressure"));
    got = ReadRootedFile("", file, pressure, sizeof(pressure), &error);
  }
  if (got < 0)
    got = ReadRootedFile(root, "/proc/pressure/memory", pressure, sizeof(pressure), &error);
  PressureFigures psi = ParsePressure(got >= 0 ? pressure : nullptr);
  r->psi_some_avg10_x100 = psi.some_avg10_x100;
  r->psi_full_avg10_x100 = psi.full_avg10_x100;
  r->psi_full_total_us = psi.full_total_us;
}

void Limit(int resource, uint64_t* cur, uint64_t* max) {
  rlimit r{};
  if (getrlimit(resource, &r) != 0) {
    *cur = *max = kUnknown;
    return;
  }
  *cur = r.rlim_cur == RLIM_INFINITY ? kUnlimited : r.rlim_cur;
  *max = r.rlim_max == RLIM_INFINITY ? kUnlimited : r.rlim_max;
}

uint64_t ReadNumber(const char* root, const char* path) {
  char buf[64];
  int error = 0;
  if (ReadRootedFile(root, path, buf, sizeof(buf), &error) < 0) return kUnknown;
  const char* p = buf;
  while (*p == ' ') ++p;
  if (*p < '0' || *p > '9') return kUnknown;
  return ParseDecimal(p);
}

uint64_t CapEff(const char* status) {
  const char* p = std::strstr(status, "\nCapEff:");
  if (p == nullptr) return kUnknown;
  p += 8;
  while (*p == ' ' || *p == '\t') ++p;
  uint64_t v = 0;
  int digits = 0;
  for (;; ++p, ++digits) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return digits > 0 ? v : kUnknown;
}

ALLOCWATCH_NOINLINE void ReadStatus(const char* root, format::HeadroomRecord* r) {
  char status[4096];
  int error = 0;
  ReadRootedFile(root, "/proc/self/status", status, sizeof(status),
                 &error);  // empty when unreadable
  r->vm_size_kb = FindKeyValue(status, "VmSize");
  r->vm_data_kb = FindKeyValue(status, "VmData");
  r->vm_lck_kb = FindKeyValue(status, "VmLck");
  r->vm_rss_kb = FindKeyValue(status, "VmRSS");
  r->threads = FindKeyValue(status, "Threads");
  r->cap_eff = CapEff(status);
}

ALLOCWATCH_NOINLINE void ReadMeminfo(const char* root, format::HeadroomRecord* r) {
  char meminfo[4096];
  int error = 0;
  ReadRootedFile(root, "/proc/meminfo", meminfo, sizeof(meminfo), &error);  // empty when unreadable
  r->mem_total_kb = FindKeyValue(meminfo, "MemTotal");
  r->mem_available_kb = FindKeyValue(meminfo, "MemAvailable");
  r->swap_total_kb = FindKeyValue(meminfo, "SwapTotal");
  r->swap_free_kb = FindKeyValue(meminfo, "SwapFree");
  r->commit_limit_kb = FindKeyValue(meminfo, "CommitLimit");
  r->committed_as_kb = FindKeyValue(meminfo, "Committed_AS");
  r->huge_total = FindKeyValue(meminfo, "HugePages_Total");
  r->huge_free = FindKeyValue(meminfo, "HugePages_Free");
  r->huge_rsvd = FindKeyValue(meminfo, "HugePages_Rsvd");
  r->huge_surplus = FindKeyValue(meminfo, "HugePages_Surp");
}

ALLOCWATCH_NOINLINE void ReadHugePool(const char* root, uint64_t kb, format::HeadroomRecord* r,
                                      uint64_t default_kb) {
  r->huge_page_kb = kb;
  r->huge_overcommit =
      kb == default_kb ? ReadNumber(root, "/proc/sys/vm/nr_overcommit_hugepages") : kUnknown;
  char dir[128] = "/sys/kernel/mm/hugepages/hugepages-";
  size_t n = std::strlen(dir);
  n += FormatDecimal(kb, dir + n);
  std::memcpy(dir + n, "kB/", 4);
  n += 3;
  auto read = [&](const char* name) {
    std::memcpy(dir + n, name, std::strlen(name) + 1);
    return ReadNumber(root, dir);
  };
  uint64_t total = read("nr_hugepages");
  if (total == kUnknown && kb == default_kb) return;  // keep meminfo's default-size figures
  r->huge_total = total;
  r->huge_free = read("free_hugepages");
  r->huge_rsvd = read("resv_hugepages");
  r->huge_surplus = read("surplus_hugepages");
  r->huge_overcommit = read("nr_overcommit_hugepages");
}

ALLOCWATCH_NOINLINE void ScanMaps(const char* root, format::HeadroomRecord* r) {
  char file[kFsPathMax];
  size_t n = std::strlen(root);
  r->map_count = r->largest_gap_bytes = kUnknown;
  if (n + sizeof("/proc/self/maps") > sizeof(file)) return;
  std::memcpy(file, root, n);
  std::memcpy(file + n, "/proc/self/maps", sizeof("/proc/self/maps"));
  MapsScanner scanner;
  if (!FeedFile(file, scanner)) return;
  r->map_count = scanner.map_count();
  r->largest_gap_bytes = scanner.largest_gap();
}

}  // namespace

bool ReadStatusMemory(const char* root, format::MemoryRecord* out) {
  char status[4096];
  int error = 0;
  if (ReadRootedFile(root, "/proc/self/status", status, sizeof(status), &error) <= 0) return false;
  auto bytes = [&](const char* key) {
    uint64_t kb = FindKeyValue(status, key);
    return kb == kUnknown ? 0 : kb * 1024;
  };
  out->rss_anon_bytes = bytes("RssAnon");
  out->rss_file_bytes = bytes("RssFile");
  out->rss_shmem_bytes = bytes("RssShmem");
  out->swap_bytes = bytes("VmSwap");
  uint64_t threads = FindKeyValue(status, "Threads");
  out->threads = threads == kUnknown ? 0 : static_cast<uint32_t>(threads);
  uint64_t hwm = FindKeyValue(status, "VmHWM");
  out->rss_peak_kib =
      hwm == kUnknown ? 0 : static_cast<uint32_t>(hwm < UINT32_MAX ? hwm : UINT32_MAX);
  return true;
}

bool CountArenaHeaps(const char* root, uint64_t* heaps) {
  char file[kFsPathMax];
  size_t n = std::strlen(root);
  if (n + sizeof("/proc/self/maps") > sizeof(file)) return false;
  std::memcpy(file, root, n);
  std::memcpy(file + n, "/proc/self/maps", sizeof("/proc/self/maps"));
  ArenaHeapCounter counter;
  if (!FeedFile(file, counter)) return false;
  *heaps = counter.heaps();
  return true;
}

void SetFsRoot(const char* root) {
  g_fs_root[0] = '\0';
  if (root != nullptr) CopyString(g_fs_root, sizeof(g_fs_root), root);
}

const char* FsRoot() { return g_fs_root; }

uint64_t HugePageKbForFlags(const char* root, int flags) {
  if ((flags & MAP_HUGETLB) == 0) return 0;
  int log2 = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
  if (log2 >= 10) return uint64_t{1} << (log2 - 10);
  uint64_t kb = DefaultHugePageKb(root);
  return kb == kUnknown ? 2048 : kb;
}

void TakeHeadroom(const char* root, uint64_t huge_page_kb, bool scan_maps, HeadroomSnapshot* out) {
  int saved_errno = errno;
  format::HeadroomRecord& r = out->record;
  std::memset(&r, 0, sizeof(r));
  Limit(RLIMIT_AS, &r.rlimit_as_cur, &r.rlimit_as_max);
  Limit(RLIMIT_DATA, &r.rlimit_data_cur, &r.rlimit_data_max);
  Limit(RLIMIT_MEMLOCK, &r.rlimit_memlock_cur, &r.rlimit_memlock_max);
  ReadStatus(root, &r);
  if (scan_maps) {
    ScanMaps(root, &r);
  } else {
    r.map_count = r.largest_gap_bytes = kUnknown;
  }
  r.max_map_count = ReadNumber(root, "/proc/sys/vm/max_map_count");
  r.overcommit_memory = ReadNumber(root, "/proc/sys/vm/overcommit_memory");
  r.overcommit_ratio = ReadNumber(root, "/proc/sys/vm/overcommit_ratio");
  r.overcommit_kbytes = ReadNumber(root, "/proc/sys/vm/overcommit_kbytes");
  r.admin_reserve_kb = ReadNumber(root, "/proc/sys/vm/admin_reserve_kbytes");
  r.user_reserve_kb = ReadNumber(root, "/proc/sys/vm/user_reserve_kbytes");
  ReadMeminfo(root, &r);
  uint64_t default_kb = huge_page_kb != 0 ? DefaultHugePageKb(root) : 0;
  if (huge_page_kb != 0) {
    ReadHugePool(root, huge_page_kb, &r, default_kb);
  } else {
    r.huge_total = r.huge_free = r.huge_rsvd = r.huge_surplus = r.huge_overcommit = kUnknown;
  }
  r.vmstat_oom_kill = VmstatOomKill(root);
  CgroupReading& cg = out->cgroup;
  ReadCgroup(root, &cg);
  r.cgroup_headroom = cg.headroom;
  r.cgroup_effective_limit = cg.effective_limit;
  r.cgroup_binding_level = cg.binding_level;
  r.cgroup_version = cg.version;
  r.cgroup_flags = cg.flags;
  r.cgroup_level_count = cg.level_count;
  r.cgroup_total_levels = cg.total_levels;
  r.cgroup_path_size = static_cast<uint32_t>(std::strlen(cg.path));
  ReadPressure(root, cg, &r);
  errno = saved_errno;
}

}  // namespace allocwatch::preload
