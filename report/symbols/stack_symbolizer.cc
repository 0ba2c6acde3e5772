// report/symbols/stack_symbolizer.cc: see stack_symbolizer.h.
#include "report/symbols/stack_symbolizer.h"

#include <cinttypes>
#include <cstdio>
#include <string_view>

namespace allocwatch::report {
namespace {

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool IsRuntimeModule(const std::string& path) {
  std::string base = Basename(path);
  for (const char* prefix : {"libc.so", "libc-", "libstdc++.so", "libgcc_s.so", "ld-linux",
                             "libm.so", "liballocwatch", "libpthread.so"}) {
    if (StartsWith(base, prefix)) return true;
  }
  return false;
}

// Well-known allocation wrappers, which a program calls instead of malloc & co.: the site is
// their caller, as it is operator new's (libiberty's, as in GCC and binutils; GLib's; CPython's;
// HotSpot's; OpenSSL's; LLVM's).
bool IsAllocationWrapper(const std::string& f) {
  static constexpr std::string_view kWrappers[] = {
      "xmalloc", "xcalloc", "xrealloc", "xstrdup", "xstrndup", "xmemdup", "xzalloc", "g_malloc",
      "g_malloc0", "g_realloc", "g_malloc_n", "g_malloc0_n", "g_realloc_n", "g_try_malloc",
      "g_try_malloc0", "g_try_realloc", "g_strdup", "g_strndup", "g_memdup", "g_memdup2",
      "g_slice_alloc", "g_slice_alloc0", "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc",
      "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc", "PyObject_Malloc",
      "PyObject_Calloc", "PyObject_Realloc",
      // CPython's allocators behind those (obmalloc.c), which a call reaches directly when the
      // public function is a tail call or inlined
      "_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "_PyMem_RawMalloc",
      "_PyMem_RawCalloc", "_PyMem_RawRealloc", "pymalloc_alloc", "pymalloc_realloc",
      "allocate_from_new_pool", "new_arena", "arena_map_get", "arena_map_mark_used",
      "_PyObject_ArenaMmap", "_PyObject_ArenaMalloc",
      // HotSpot's (the JVM's own C++ heap)
      "os::malloc", "os::realloc", "os::strdup", "os::strdup_check_oom", "AllocateHeap",
      "ReallocateHeap", "NMTPreInitAllocation::do_alloc", "NMTPreInit::handle_malloc",
      "NMTPreInit::handle_realloc", "CHeapObjBase::operator new",
      // OpenSSL's
      "CRYPTO_malloc", "CRYPTO_zalloc", "CRYPTO_realloc", "CRYPTO_clear_realloc", "CRYPTO_strdup",
      "CRYPTO_strndup", "CRYPTO_memdup",
      // LLVM's (clang, lld, rustc's code generation)
      "llvm::allocate_buffer", "llvm::safe_malloc", "llvm::safe_calloc", "llvm::safe_realloc"};
  // HotSpot's CHeapObj<(MEMFLAGS)N>::operator new(...)
  if (StartsWith(f, "CHeapObj<") && f.find("::operator new") != std::string::npos) return true;
  std::string_view name = f;
  name = name.substr(0, name.find('('));
  for (std::string_view w : kWrappers) {
    if (name == w) return true;
  }
  return false;
}

// Rust's standard library (its names as demangled: "alloc::raw_vec::finish_grow",
// "<alloc::raw_vec::RawVecInner>::finish_grow", "<[u8]>::to_vec", "<str as
// alloc::borrow::ToOwned>::to_owned") and its allocator shims (__rust_alloc, __rdl_alloc).
bool IsRustRuntime(const std::string& f) {
  for (const char* prefix :
       {"alloc::", "core::", "<alloc::", "<core::", "<std::", "__rust_", "__rdl_", "__rg_"}) {
    if (StartsWith(f, prefix)) return true;
  }
  // Methods of the primitive types (slices, str): the standard library's, unless of a trait
  // from elsewhere.
  if (StartsWith(f, "<[") || StartsWith(f, "<str")) {
    size_t end = f.find(">::");
    size_t as = f.find(" as ");
    if (as == std::string::npos || as > end) return true;
    std::string_view trait = std::string_view(f).substr(as + 4);
    return trait.rfind("alloc::", 0) == 0 || trait.rfind("core::", 0) == 0 ||
           trait.rfind("std::", 0) == 0;
  }
  return false;
}

bool IsRuntimeFunction(const std::string& f) {
  if (IsAllocationWrapper(f) || IsRustRuntime(f)) return true;
  for (const char* prefix :
       {"std::", "__gnu_cxx::", "operator new", "operator delete", "__libc_", "__cxa_",
        "void std::", "__gnu_cxx", "__new_allocator", "__static_initialization_and_destruction"}) {
    if (StartsWith(f, prefix)) return true;
  }
  // Return types come first in some demangled template names ("std::pair<...> std::...").
  return f.find(" std::") != std::string::npos && f.find("std::") < f.find('(');
}

}  // namespace

StackSymbolizer::StackSymbolizer(symbolize::Options options, bool enabled) {
  if (enabled) symbolizer_ = std::make_unique<symbolize::Symbolizer>(std::move(options));
}

StackSymbolizer::~StackSymbolizer() = default;

std::vector<std::string> StackSymbolizer::Warnings() const {
  return symbolizer_ ? symbolizer_->Warnings() : std::vector<std::string>{};
}

const symbolize::Stats* StackSymbolizer::stats() const {
  return symbolizer_ ? &symbolizer_->stats() : nullptr;
}

void StackSymbolizer::AddTable(const SymbolTable& table) {
  if (!symbolizer_) return;
  for (const auto& [key, frames] : table.entries) {
    const SymbolTableModule& m = table.modules[key.first];
    // Only matched modules have entries; an unmatched one is tried from the binaries again.
    if (!m.matched) continue;
    tables_[std::make_pair(m.path, m.build_id)].try_emplace(key.second, frames);
  }
  module_entries_.clear();  // their table pointers may have moved
}

const std::vector<symbolize::Frame>& StackSymbolizer::Lookup(const ModuleInfo& mod,
                                                             uint64_t elf_address) {
  auto [entry, inserted] = module_entries_.try_emplace(&mod);
  if (inserted || !Matches(entry->second, mod)) {
    entry->second.ref = symbolize::ModuleRef{mod.path, mod.build_id};
    auto table = tables_.find(std::make_pair(mod.path, mod.build_id));
    entry->second.table = table == tables_.end() ? nullptr : &table->second;
  }
  const ModuleEntry& module = entry->second;
  if (module.table != nullptr) {
    auto found = module.table->find(elf_address);
    if (found != module.table->end()) return found->second;
  }
  return symbolizer_->Symbolize(module.ref, elf_address, true);
}

std::vector<DisplayFrame> StackSymbolizer::Frames(const ProcessModel& model, StackId stack) {
  return BuildFrames(model, stack, false);
}

std::vector<DisplayFrame> StackSymbolizer::FramesThroughSite(const ProcessModel& model,
                                                             StackId stack) {
  return BuildFrames(model, stack, true);
}

void StackSymbolizer::Prepare(const ProcessModel& model, StackId stack, bool whole) {
  if (!symbolizer_) return;
  auto it = model.stacks.find(stack);
  if (it == model.stacks.end()) return;
  if (whole) {
    for (const RawFrame& raw : it->second) {
      if (raw.module >= 0) Lookup(model.modules[raw.module], raw.elf_address);
    }
    return;
  }
  BuildFrames(model, stack, /*through_site=*/true);
  // The frames above the site are shown for the sites a report lists: their addresses are
  // left for then, but each of their modules is opened now with one lookup (reading a large
  // debug file, libc's zlib-compressed DWARF from libc6-dbg say, takes tens of milliseconds;
  // nearly every stack ends in libc's start-up code).
  for (const RawFrame& raw : it->second) {
    if (raw.module < 0) continue;
    const ModuleInfo& mod = model.modules[raw.module];
    auto known = module_entries_.find(&mod);
    if (known == module_entries_.end() || !Matches(known->second, mod)) {
      Lookup(mod, raw.elf_address);
    }
  }
}

std::vector<DisplayFrame> StackSymbolizer::BuildFrames(const ProcessModel& model, StackId stack,
                                                       bool through_site) {
  std::vector<DisplayFrame> out;
  auto it = model.stacks.find(stack);
  if (it == model.stacks.end()) return out;
  for (const RawFrame& raw : it->second) {
    DisplayFrame base;
    base.address = raw.address;
    if (raw.module >= 0) {
      const ModuleInfo& mod = model.modules[raw.module];
      base.module = mod.path;
      base.module_offset = raw.elf_address;
      base.runtime = IsRuntimeModule(mod.path);
      if (symbolizer_) {
        const std::vector<symbolize::Frame>& frames = Lookup(mod, raw.elf_address);
        for (const symbolize::Frame& s : frames) {
          DisplayFrame f = base;
          f.function = s.function;
          f.file = s.file;
          f.line = s.line;
          f.inlined = s.inlined;
          f.runtime = base.runtime || IsRuntimeFunction(s.function);
          out.push_back(std::move(f));
          if (through_site && !out.back().runtime) return out;
        }
        if (!frames.empty()) continue;
      }
    }
    out.push_back(std::move(base));
    if (through_site && !out.back().runtime) return out;
  }
  return out;
}

std::string DescribeFrame(const DisplayFrame& f) {
  char buf[64];
  if (!f.function.empty()) {
    std::string s = f.function;
    if (!f.file.empty()) {
      s.append(" (").append(Basename(f.file));
      if (f.line > 0) s.append(":").append(std::to_string(f.line));
      s.append(")");
    }
    if (f.inlined) s += " [inlined]";
    return s;
  }
  if (!f.module.empty()) {
    std::snprintf(buf, sizeof(buf), "+0x%" PRIx64, f.module_offset);
    return Basename(f.module) + buf;
  }
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, f.address);
  return buf;
}

}  // namespace allocwatch::report
