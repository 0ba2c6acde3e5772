// preload/hooks/module_map.cc: see module_map.h.
#include "preload/hooks/module_map.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "preload/base/errno_saver.h"
#include "preload/base/raw_io.h"
#include "preload/base/spinlock.h"
#include "preload/format/record_format.h"
#include "preload/hooks/record_writer.h"
#include "preload/procfs/proc_text.h"

namespace allocwatch::preload {
namespace {

using format::ModuleLoadRecord;
using format::ModuleUnloadRecord;

constexpr int kMaxModules = 1024;
constexpr size_t kMaxPath = MappedPathFinder::kMaxPath;

struct Module {
  uint64_t load_bias;
  uint64_t start;
  uint64_t end;
  uint32_t id;
  bool alive;
  bool seen;  // found by the scan in progress
  uint16_t build_id_size;
  uint16_t path_size;
  uint8_t build_id[format::kMaxBuildIdSize];
  char path[kMaxPath];  // as the loader names it: relative when dlopen was given one
};

constinit Spinlock g_lock;
constinit Module g_modules[kMaxModules] = {};
int g_count = 0;
uint32_t g_next_id = 1;
constinit char g_exe_path[kMaxPath] = {};
uint64_t g_vdso_start = 0;  // AT_SYSINFO_EHDR: the vdso has no file
constinit MappedPathFinder g_finder;
constinit char g_written_path[kMaxPath] = {};
constinit std::atomic<uint32_t> g_unload_generation{0};

void ReadBuildId(const dl_phdr_info* info, Module* m) {
  m->build_id_size = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((note->n_namesz + 3) & ~3u);
      if (desc + note->n_descsz > end) break;
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        uint32_t n =
            note->n_descsz < format::kMaxBuildIdSize ? note->n_descsz : format::kMaxBuildIdSize;
        std::memcpy(m->build_id, desc, n);
        m->build_id_size = static_cast<uint16_t>(n);
        return;
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
}

// Fills `m` from one loaded object; false for objects without a file (vdso).
bool Describe(const dl_phdr_info* info, bool first, Module* m) {
  const char* name = info->dlpi_name;
  if (name == nullptr || name[0] == '\0') {
    if (!first) return false;
    name = g_exe_path;
  }
  if (name[0] == '\0') return false;
  m->load_bias = info->dlpi_addr;
  m->start = ~uint64_t{0};
  m->end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uint64_t s = info->dlpi_addr + ph.p_vaddr;
    if (s < m->start) m->start = s;
    if (s + ph.p_memsz > m->end) m->end = s + ph.p_memsz;
  }
  if (m->end == 0 || m->start == g_vdso_start) return false;
  size_t n = strnlen(name, kMaxPath - 1);
  std::memcpy(m->path, name, n);
  m->path[n] = '\0';
  m->path_size = static_cast<uint16_t>(n);
  ReadBuildId(info, m);
  return true;
}

struct ScanState {
  Module found[kMaxModules];
  int count;
  bool first;
};
constinit ScanState g_scan = {};  // only used under g_lock

int ScanCallback(dl_phdr_info* info, size_t, void* data) {
  auto* scan = static_cast<ScanState*>(data);
  if (scan->count < kMaxModules && Describe(info, scan->first, &scan->found[scan->count])) {
    ++scan->count;
  }
  scan->first = false;
  return 0;
}

// Appends `s` at out[n], NUL-terminated, if it fits in kMaxPath; returns the new length or 0.
size_t Append(char* out, size_t n, const char* s, size_t size) {
  if (n + size >= kMaxPath) return 0;
  std::memcpy(out + n, s, size);
  out[n + size] = '\0';
  return n + size;
}

// The absolute path of a module the loader names by a relative one (dlopen("./x.so"), or a
// relative directory in LD_LIBRARY_PATH or a RUNPATH): the file the kernel has mapped at its
// start, else the name under the current directory. The report runs elsewhere, and the
// program may have changed directory since dlopen, so the loader's name is written only when
// neither can be found.
size_t AbsolutePath(const Module& m, char* out) {
  ErrnoSaver saved;
  g_finder.Start(m.start);
  if (FeedFile("/proc/self/maps", g_finder)) {
    size_t n = Append(out, 0, g_finder.path(), strlen(g_finder.path()));
    if (n > 0) return n;
  }
  const char* name = m.path;
  while (name[0] == '.' && name[1] == '/') name += 2;
  size_t n = getcwd(out, kMaxPath) != nullptr ? strlen(out) : 0;
  if (n > 0 && out[n - 1] != '/') n = Append(out, n, "/", 1);
  if (n > 0) n = Append(out, n, name, strlen(name));
  return n;
}

void WriteLoad(const Module& m, uint64_t time_ns) {
  const char* path = m.path;
  uint16_t path_size = m.path_size;
  if (m.path[0] != '/') {
    size_t n = AbsolutePath(m, g_written_path);
    if (n > 0) {
      path = g_written_path;
      path_size = static_cast<uint16_t>(n);
    }
  }
  ModuleLoadRecord r{};
  r.header = format::MakeHeader(format::RecordType::kModuleLoad, sizeof(r) + path_size);
  r.time_ns = time_ns;
  r.load_bias = m.load_bias;
  r.start = m.start;
  r.end = m.end;
  r.module_id = m.id;
  r.build_id_size = m.build_id_size;
  r.path_size = path_size;
  std::memcpy(r.build_id, m.build_id, m.build_id_size);
  Chunk chunks[2] = {{&r, sizeof(r)}, {path, path_size}};
  Writer().AppendPadded(chunks, 2);
}

void WriteUnload(const Module& m, uint64_t time_ns) {
  ModuleUnloadRecord r{};
  r.header = format::MakeHeader(format::RecordType::kModuleUnload, sizeof(r));
  r.time_ns = time_ns;
  r.module_id = m.id;
  Writer().Append(&r, sizeof(r));
}

bool SameModule(const Module& a, const Module& b) {
  return a.load_bias == b.load_bias && a.start == b.start && a.path_size == b.path_size &&
         std::memcmp(a.path, b.path, a.path_size) == 0;
}

void EnsureExePath() {
  if (g_exe_path[0] != '\0') return;
  g_vdso_start = getauxval(AT_SYSINFO_EHDR);
  ssize_t n = readlink("/proc/self/exe", g_exe_path, kMaxPath - 1);
  g_exe_path[n > 0 ? n : 0] = '\0';
}

}  // namespace

void RescanModules(uint64_t time_ns) {
  SpinlockHolder hold(g_lock);
  EnsureExePath();
  g_scan.count = 0;
  g_scan.first = true;
  dl_iterate_phdr(ScanCallback, &g_scan);
  for (int i = 0; i < g_count; ++i) g_modules[i].seen = false;
  for (int f = 0; f < g_scan.count; ++f) {
    const Module& found = g_scan.found[f];
    bool known = false;
    for (int i = 0; i < g_count && !known; ++i) {
      if (g_modules[i].alive && SameModule(g_modules[i], found)) known = g_modules[i].seen = true;
    }
    if (known || g_count == kMaxModules) continue;
    Module& m = g_modules[g_count++];
    m = found;
    m.id = g_next_id++;
    m.alive = m.seen = true;
    WriteLoad(m, time_ns);
  }
  int kept = 0;
  for (int i = 0; i < g_count; ++i) {
    if (!g_modules[i].seen) {
      WriteUnload(g_modules[i], time_ns);
      continue;
    }
    if (kept != i) g_modules[kept] = g_modules[i];
    ++kept;
  }
  if (kept != g_count) g_unload_generation.fetch_add(1, std::memory_order_release);
  g_count = kept;
}

uint32_t ModuleUnloadGeneration() { return g_unload_generation.load(std::memory_order_acquire); }

void ForgetModulesInChild() {
  g_lock.ResetAfterFork();
  g_count = 0;
}

void SelfCodeRange(uint64_t* start, uint64_t* end) {
  struct Find {
    uint64_t target, start, end;
  } find{reinterpret_cast<uint64_t>(&SelfCodeRange), 0, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* i, size_t, void* data) {
        auto* f = static_cast<Find*>(data);
        for (int k = 0; k < i->dlpi_phnum; ++k) {
          const ElfW(Phdr)& ph = i->dlpi_phdr[k];
          if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
          uint64_t s = i->dlpi_addr + ph.p_vaddr;
          if (f->target >= s && f->target < s + ph.p_memsz) {
            f->start = s;
            f->end = s + ph.p_memsz;
            return 1;
          }
        }
        return 0;
      },
      &find);
  *start = find.start;
  *end = find.end;
}

}  // namespace allocwatch::preload
