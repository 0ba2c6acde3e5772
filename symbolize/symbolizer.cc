// symbolize/symbolizer.cc: Symbolizer on top of elfutils libdwfl.
//
// Each distinct ModuleRef gets its own Dwfl session holding exactly one module, reported at
// bias zero so that ELF virtual addresses are Dwfl addresses. Candidate files are tried in
// order (the recorded path under the sysroot, then .build-id/xx/rest.debug under each debug
// root) until one opens and, when the recording has a build-id, carries the same build-id.
#include "symbolize/symbolizer.h"

#include <elfutils/libdwfl.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "symbolize/debuginfo_search.h"
#include "symbolize/dwarf_frames.h"
#include "symbolize/symbol_index.h"

namespace allocwatch::symbolize {
namespace {

struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};

// A Dwfl session with the one module it reported.
struct OpenedModule {
  std::unique_ptr<Dwfl, DwflDeleter> dwfl;
  Dwfl_Module* module = nullptr;
  GElf_Addr bias = 0;    // Dwfl address minus ELF virtual address
  Dwarf_Addr start = 0;  // Dwfl address range covered by the module
  Dwarf_Addr end = 0;
  internal::DebuglinkContext debuglink;            // userdata of `module`; must outlive `dwfl`
  std::unique_ptr<internal::SymbolIndex> symbols;  // built at the first lookup
};

std::string DescribeModule(const ModuleRef& module) {
  return "module " + module.path + " (build-id " +
         (module.build_id.empty() ? std::string("none") : module.build_id) + ")";
}

// The recording as looked up: build-id hex folded to lower case.
ModuleRef Normalized(const ModuleRef& module) {
  ModuleRef normalized = module;
  for (char& c : normalized.build_id) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return normalized;
}

}  // namespace

struct Symbolizer::Impl {
  explicit Impl(Options opts);

  const std::vector<Frame>& Symbolize(const ModuleRef& module, uint64_t elf_address,
                                      bool is_return_address);
  OpenedModule* FindOrOpen(const ModuleRef& module);
  std::unique_ptr<OpenedModule> Open(const ModuleRef& module, std::string* failure);
  std::unique_ptr<OpenedModule> TryFile(const std::string& file, const ModuleRef& module,
                                        std::string* failure);
  std::vector<std::string> Candidates(const ModuleRef& module) const;

  Options options;
  std::vector<std::string> debug_roots;
  std::string debuginfo_path;
  char* debuginfo_path_ptr = nullptr;  // Dwfl_Callbacks wants a char**
  Dwfl_Callbacks callbacks{};
  std::vector<std::string> warnings;
  Stats stats;
  // Keyed by (path, build_id); null when the module could not be opened or matched.
  absl::flat_hash_map<std::pair<std::string, std::string>, std::unique_ptr<OpenedModule>> modules;
  // The last module asked for: consecutive requests are mostly for one module, and this spares
  // building and hashing the (path, build-id) key.
  ModuleRef last_ref;
  OpenedModule* last_module = nullptr;
  bool have_last = false;
  // node_hash_map: Symbolize() hands out references to the values.
  absl::node_hash_map<std::pair<const OpenedModule*, uint64_t>, std::vector<Frame>> cache;
  const std::vector<Frame> no_frames;
};

Symbolizer::Impl::Impl(Options opts)
    : options(std::move(opts)),
      debug_roots(internal::DebugRoots(options.sysroot, options.debug_dirs)),
      debuginfo_path(internal::JoinSearchPath(debug_roots)) {
  debuginfo_path_ptr = debuginfo_path.data();
  callbacks.find_elf = dwfl_build_id_find_elf;
  callbacks.find_debuginfo = internal::FindDebuginfo;
  callbacks.section_address = dwfl_offline_section_address;
  callbacks.debuginfo_path = &debuginfo_path_ptr;
}

const std::vector<Frame>& Symbolizer::Impl::Symbolize(const ModuleRef& module, uint64_t elf_address,
                                                      bool is_return_address) {
  ++stats.requests;
  if (!have_last || module.path != last_ref.path || module.build_id != last_ref.build_id) {
    last_module = FindOrOpen(module);
    last_ref = module;
    have_last = true;
  }
  OpenedModule* opened = last_module;
  if (opened == nullptr) return no_frames;
  if (is_return_address) {
    if (elf_address == 0) return no_frames;
    --elf_address;
  }
  auto [it, inserted] = cache.try_emplace(std::make_pair(opened, elf_address));
  if (!inserted) return it->second;
  ++stats.dwarf_lookups;
  Dwarf_Addr address = elf_address + opened->bias;
  if (address >= opened->start && address < opened->end) {
    if (opened->symbols == nullptr) {
      opened->symbols = std::make_unique<internal::SymbolIndex>(opened->module);
    }
    it->second = internal::FramesAt(opened->module, *opened->symbols, address);
  }
  return it->second;
}

OpenedModule* Symbolizer::Impl::FindOrOpen(const ModuleRef& module) {
  auto [it, inserted] = modules.try_emplace(std::make_pair(module.path, module.build_id));
  if (inserted) {
    std::string failure;
    it->second = Open(Normalized(module), &failure);
    if (it->second != nullptr) ++stats.modules_opened;
    if (it->second == nullptr) {
      warnings.push_back("symbolize: cannot use " + DescribeModule(module) + ": " + failure);
    }
  }
  return it->second.get();
}

std::vector<std::string> Symbolizer::Impl::Candidates(const ModuleRef& module) const {
  std::vector<std::string> files = {options.sysroot + module.path};
  if (module.build_id.empty()) return files;
  for (const std::string& root : debug_roots) {
    std::string path = internal::BuildIdDebugPath(root, module.build_id);
    if (!path.empty()) files.push_back(std::move(path));
  }
  return files;
}

std::unique_ptr<OpenedModule> Symbolizer::Impl::Open(const ModuleRef& module,
                                                     std::string* failure) {
  std::vector<std::string> files = Candidates(module);
  for (size_t i = 0; i < files.size(); ++i) {
    std::string reason;
    std::unique_ptr<OpenedModule> opened = TryFile(files[i], module, &reason);
    if (opened != nullptr) return opened;
    // The first candidate's reason is the informative one; the rest are usually "missing".
    if (i == 0) *failure = files[i] + ": " + reason;
  }
  if (files.size() > 1) *failure += "; no matching .build-id debug file in the debug roots";
  return nullptr;
}

std::unique_ptr<OpenedModule> Symbolizer::Impl::TryFile(const std::string& file,
                                                        const ModuleRef& module,
                                                        std::string* failure) {
  auto opened = std::make_unique<OpenedModule>();
  opened->dwfl.reset(dwfl_begin(&callbacks));
  if (opened->dwfl == nullptr) {
    *failure = dwfl_errmsg(-1);
    return nullptr;
  }
  Dwfl* dwfl = opened->dwfl.get();
  dwfl_report_begin(dwfl);
  opened->module = dwfl_report_elf(dwfl, module.path.c_str(), file.c_str(), -1, 0, true);
  dwfl_report_end(dwfl, nullptr, nullptr);
  if (opened->module == nullptr || dwfl_module_getelf(opened->module, &opened->bias) == nullptr) {
    *failure = dwfl_errmsg(-1);
    return nullptr;
  }
  std::string actual = internal::ModuleBuildId(opened->module);
  if (!module.build_id.empty() && actual != module.build_id) {
    *failure = "build-id mismatch (file has " + (actual.empty() ? "none" : actual) + ")";
    return nullptr;
  }
  void** userdata = nullptr;
  dwfl_module_info(opened->module, &userdata, &opened->start, &opened->end, nullptr, nullptr,
                   nullptr, nullptr);
  opened->debuglink.debug_roots = &debug_roots;
  opened->debuglink.recorded_dir = std::filesystem::path(module.path).parent_path().string();
  *userdata = &opened->debuglink;
  return opened;
}

Symbolizer::Symbolizer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Symbolizer::~Symbolizer() = default;

const std::vector<Frame>& Symbolizer::Symbolize(const ModuleRef& module, uint64_t elf_address,
                                                bool is_return_address) {
  return impl_->Symbolize(module, elf_address, is_return_address);
}

const std::vector<std::string>& Symbolizer::Warnings() const { return impl_->warnings; }

const Stats& Symbolizer::stats() const { return impl_->stats; }

}  // namespace allocwatch::symbolize
