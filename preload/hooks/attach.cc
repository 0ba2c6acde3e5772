// preload/hooks/attach.cc: see attach.h.
#include "preload/hooks/attach.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "preload/format/hooked_symbols.h"
#include "preload/hooks/real_functions.h"

namespace allocwatch::preload {
namespace {

// A wrapped name: this library's definition, and the C library's (what the program's entries
// hold before attach).
struct Route {
  const char* name;
  uint64_t hook;
  uint64_t real;
};
constexpr int kMaxRoutes = 48;
Route g_routes[kMaxRoutes];
int g_route_count = 0;
uint64_t g_self_base = 0;

// Every entry rewritten, with what it held before. Mapped at first use; the dynamic loader's
// lock (held while dl_iterate_phdr runs its callback) serialises its users.
struct Rewritten {
  uint64_t* slot;
  uint64_t original;
};
constexpr size_t kMaxRewritten = 1 << 16;
Rewritten* g_rewritten = nullptr;
size_t g_rewritten_count = 0;
unsigned long long g_seen_adds = 0;  // dl_iterate_phdr's count of loads at the last routing

bool LearnRoutes() {
  if (g_route_count > 0) return true;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&LearnRoutes), &info) == 0 || info.dli_fname == nullptr) {
    return false;
  }
  g_self_base = reinterpret_cast<uint64_t>(info.dli_fbase);
  // Looked up in this library first: its own definitions, whatever the global order is.
  void* self = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
  if (self == nullptr) return false;
  auto add = [self](const char* name) {
    void* hook = dlsym(self, name);
    void* real = dlsym(RTLD_NEXT, name);
    if (hook != nullptr && real != nullptr && g_route_count < kMaxRoutes) {
      g_routes[g_route_count++] = {name, reinterpret_cast<uint64_t>(hook),
                                   reinterpret_cast<uint64_t>(real)};
    }
  };
#define ALLOCWATCH_ROUTE_RESOLVED(name, ...) add(#name);
#define ALLOCWATCH_ROUTE_FORWARDED(name) add(#name);
  ALLOCWATCH_RESOLVED_SYMBOLS(ALLOCWATCH_ROUTE_RESOLVED)
  ALLOCWATCH_FORWARDED_SYMBOLS(ALLOCWATCH_ROUTE_FORWARDED)
#undef ALLOCWATCH_ROUTE_RESOLVED
#undef ALLOCWATCH_ROUTE_FORWARDED
  dlclose(self);
  if (g_rewritten == nullptr) {
    void* p = Real().mmap(nullptr, kMaxRewritten * sizeof(Rewritten), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    g_rewritten = static_cast<Rewritten*>(p);
  }
  return g_route_count > 0;
}

const Route* FindRoute(const char* name) {
  for (int i = 0; i < g_route_count; ++i) {
    if (std::strcmp(g_routes[i].name, name) == 0) return &g_routes[i];
  }
  return nullptr;
}

// What a module's dynamic section says of its relocations, and where it is.
struct Module {
  uint64_t base = 0;
  uint64_t low = UINT64_MAX, high = 0;     // its mapped segments
  uint64_t relro_low = 0, relro_high = 0;  // pages made read-only after relocation
  const Elf64_Sym* symtab = nullptr;
  const char* strtab = nullptr;
  const Elf64_Rela* relocations[2] = {nullptr, nullptr};  // DT_JMPREL, DT_RELA
  uint64_t sizes[2] = {0, 0};
};

bool Skipped(const dl_phdr_info* info) {
  if (info->dlpi_addr == g_self_base) return true;  // this library
  const char* name = info->dlpi_name;
  return name != nullptr &&
         (std::strstr(name, "ld-linux") != nullptr || std::strstr(name, "linux-vdso") != nullptr ||
          std::strstr(name, "linux-gate") != nullptr);
}

bool ReadModule(const dl_phdr_info* info, Module* m) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  m->base = info->dlpi_addr;
  const Elf64_Dyn* dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const Elf64_Phdr& ph = info->dlpi_phdr[i];
    const uint64_t start = m->base + ph.p_vaddr;
    if (ph.p_type == PT_LOAD) {
      if (start < m->low) m->low = start;
      if (start + ph.p_memsz > m->high) m->high = start + ph.p_memsz;
    } else if (ph.p_type == PT_DYNAMIC) {
      dyn = reinterpret_cast<const Elf64_Dyn*>(start);
    } else if (ph.p_type == PT_GNU_RELRO) {
      // The loader protects whole pages: the region's start and end rounded down.
      m->relro_low = start & ~(page - 1);
      m->relro_high = (start + ph.p_memsz) & ~(page - 1);
    }
  }
  if (dyn == nullptr) return false;
  // The loader has already added the base to the addresses of most modules' entries.
  auto address = [m](uint64_t v) { return v < m->base ? v + m->base : v; };
  bool rela_plt = true;
  for (; dyn->d_tag != DT_NULL; ++dyn) {
    switch (dyn->d_tag) {
      case DT_SYMTAB:
        m->symtab = reinterpret_cast<const Elf64_Sym*>(address(dyn->d_un.d_ptr));
        break;
      case DT_STRTAB:
        m->strtab = reinterpret_cast<const char*>(address(dyn->d_un.d_ptr));
        break;
      case DT_JMPREL:
        m->relocations[0] = reinterpret_cast<const Elf64_Rela*>(address(dyn->d_un.d_ptr));
        break;
      case DT_PLTRELSZ:
        m->sizes[0] = dyn->d_un.d_val;
        break;
      case DT_PLTREL:
        rela_plt = dyn->d_un.d_val == DT_RELA;
        break;
      case DT_RELA:
        m->relocations[1] = reinterpret_cast<const Elf64_Rela*>(address(dyn->d_un.d_ptr));
        break;
      case DT_RELASZ:
        m->sizes[1] = dyn->d_un.d_val;
        break;
      default:
        break;
    }
  }
  if (!rela_plt) m->relocations[0] = nullptr;
  return m->symtab != nullptr && m->strtab != nullptr;
}

// Calls fn(slot, route, is_jump_slot) for each GOT entry of the module that names a wrapped
// function.
template <typename Fn>
void ForEachEntry(const Module& m, Fn fn) {
  for (int t = 0; t < 2; ++t) {
    if (m.relocations[t] == nullptr) continue;
    const size_t n = m.sizes[t] / sizeof(Elf64_Rela);
    for (size_t i = 0; i < n; ++i) {
      const Elf64_Rela& r = m.relocations[t][i];
      const uint32_t type = ELF64_R_TYPE(r.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      const uint32_t sym = ELF64_R_SYM(r.r_info);
      if (sym == 0) continue;
      const Route* route = FindRoute(m.strtab + m.symtab[sym].st_name);
      if (route == nullptr) continue;
      fn(reinterpret_cast<uint64_t*>(m.base + r.r_offset), *route, type == R_X86_64_JUMP_SLOT);
    }
  }
}

// Stores `value` into a GOT entry, making its page writable for the moment when the loader
// made it read-only.
bool Store(const Module& m, uint64_t* slot, uint64_t value) {
  const uint64_t at = reinterpret_cast<uint64_t>(slot);
  const bool relro = at >= m.relro_low && at < m.relro_high;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  void* page_start = reinterpret_cast<void*>(at & ~(page - 1));
  if (relro && Real().mprotect(page_start, page, PROT_READ | PROT_WRITE) != 0) return false;
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
  if (relro) Real().mprotect(page_start, page, PROT_READ);
  return true;
}

Rewritten* FindRewritten(uint64_t* slot) {
  for (size_t i = 0; i < g_rewritten_count; ++i) {
    if (g_rewritten[i].slot == slot) return &g_rewritten[i];
  }
  return nullptr;
}

struct RouteWalk {
  bool only_new = false;  // stop at once when no module was loaded since the last walk
  int routed = 0;
  bool first = true;
};

int RouteModule(dl_phdr_info* info, size_t size, void* data) {
  auto* walk = static_cast<RouteWalk*>(data);
  if (walk->first) {
    walk->first = false;
    const bool has_adds = size >= offsetof(dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds);
    if (walk->only_new && has_adds && info->dlpi_adds == g_seen_adds) return 1;
    if (has_adds) g_seen_adds = info->dlpi_adds;
  }
  Module m;
  if (Skipped(info) || !ReadModule(info, &m)) return 0;
  ForEachEntry(m, [&](uint64_t* slot, const Route& route, bool jump_slot) {
    const uint64_t now = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (now == route.hook) {
      ++walk->routed;
      return;
    }
    // Only an entry bound to the C library's function, or a call not bound yet (lazy binding:
    // the entry points back into the module's PLT). An entry bound elsewhere (a module with an
    // allocator of its own) is left alone.
    const bool lazy = jump_slot && now >= m.low && now < m.high;
    if (now != route.real && !lazy) return;
    Rewritten* r = FindRewritten(slot);
    if (r == nullptr) {
      if (g_rewritten_count == kMaxRewritten) return;
      r = &g_rewritten[g_rewritten_count++];
      r->slot = slot;
    }
    r->original = now;
    if (Store(m, slot, route.hook)) ++walk->routed;
  });
  return 0;
}

int RestoreModule(dl_phdr_info* info, size_t, void*) {
  Module m;
  if (Skipped(info) || !ReadModule(info, &m)) return 0;
  ForEachEntry(m, [&](uint64_t* slot, const Route& route, bool) {
    if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) != route.hook) return;
    const Rewritten* r = FindRewritten(slot);
    Store(m, slot, r != nullptr ? r->original : route.real);
  });
  return 0;
}

}  // namespace

bool LoadedFirstInSymbolOrder() {
  const char* preload = getenv("LD_PRELOAD");
  if (preload != nullptr && std::strstr(preload, "liballocwatch") != nullptr) return true;
  // /etc/ld.so.preload, or a copy under another name: the loader's first mremap is ours.
  Dl_info global{}, self{};
  void* first = dlsym(RTLD_DEFAULT, "mremap");
  return first != nullptr && dladdr(first, &global) != 0 &&
         dladdr(reinterpret_cast<void*>(&LoadedFirstInSymbolOrder), &self) != 0 &&
         global.dli_fbase == self.dli_fbase;
}

int RouteAllModules() {
  if (!LearnRoutes()) return 0;
  RouteWalk walk;
  dl_iterate_phdr(RouteModule, &walk);
  return walk.routed;
}

void RouteNewModules() {
  if (g_route_count == 0) return;
  RouteWalk walk;
  walk.only_new = true;
  dl_iterate_phdr(RouteModule, &walk);
}

void RestoreRoutes() {
  if (g_route_count == 0) return;
  dl_iterate_phdr(RestoreModule, nullptr);
  g_rewritten_count = 0;
  g_seen_adds = 0;
}

}  // namespace allocwatch::preload
