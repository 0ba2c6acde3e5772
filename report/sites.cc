// report/sites.cc: see sites.h.
#include "report/sites.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/container/flat_hash_map.h"

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

bool IsRuntimeFunction(const std::string& f) {
  for (const char* prefix : {"std::", "__gnu_cxx::", "operator new", "operator delete",
                             "__libc_", "__cxa_", "void std::", "__gnu_cxx", "__new_allocator",
                             "__static_initialization_and_destruction"}) {
    if (StartsWith(f, prefix)) return true;
  }
  // Return types come first in some demangled template names ("std::pair<...> std::...").
  return f.find(" std::") != std::string::npos && f.find("std::") < f.find('(');
}

std::string SiteKey(const std::vector<DisplayFrame>& frames, size_t index, Grouping grouping) {
  if (frames.empty()) return "(no stack)";
  if (grouping == Grouping::kFullStack) {
    std::string key;
    char hex[32];
    for (const DisplayFrame& f : frames) {
      std::snprintf(hex, sizeof(hex), "%" PRIx64 ";", f.address);
      key += hex;
    }
    return key;
  }
  const DisplayFrame& f = frames[index];
  if (grouping == Grouping::kAllocatingFunction && !f.function.empty()) return f.function;
  // Calls on one source line are one site for the reader, whatever the instruction.
  if (!f.function.empty() && f.line > 0) {
    return f.function + "@" + f.file + ":" + std::to_string(f.line);
  }
  char hex[32];
  std::snprintf(hex, sizeof(hex), "+%" PRIx64, f.module.empty() ? f.address : f.module_offset);
  return f.module + hex;
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
  // A ModuleInfo at a reused address (another model) is noticed by its path and build-id.
  if (inserted || entry->second.ref.path != mod.path ||
      entry->second.ref.build_id != mod.build_id) {
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
        }
        if (!frames.empty()) continue;
      }
    }
    out.push_back(std::move(base));
  }
  return out;
}

std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping) {
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<Site> sites;
  std::vector<double> shown_weight;
  // Deterministic order: by stack id.
  std::vector<StackId> ids;
  for (const auto& [id, fig] : per_stack) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (StackId id : ids) {
    const SiteFigures& fig = per_stack.at(id);
    std::vector<DisplayFrame> frames = symbols.Frames(model, id);
    size_t site_frame = 0;
    while (site_frame + 1 < frames.size() && frames[site_frame].runtime) ++site_frame;
    if (grouping == Grouping::kAllocatingFunction) site_frame = 0;
    std::string key = SiteKey(frames, site_frame, grouping);
    auto [it, inserted] = index.try_emplace(key, sites.size());
    if (inserted) {
      sites.push_back(Site{key, {}, site_frame, {}, 0, {}});
      shown_weight.push_back(-1);
    }
    Site& site = sites[it->second];
    site.figures.Add(fig);
    site.stack_count += 1;
    site.stacks.push_back(id);
    double weight = fig.live_bytes + fig.alloc_bytes + fig.mapped_bytes;
    if (weight > shown_weight[it->second]) {
      shown_weight[it->second] = weight;
      site.frames = std::move(frames);
      site.site_frame = site_frame;
    }
  }
  return sites;
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
