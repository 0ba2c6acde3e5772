// report/analysis/sites.cc: see sites.h.
#include "report/analysis/sites.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/container/flat_hash_map.h"

namespace allocwatch::report {
namespace {

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

std::vector<Site> GroupSites(const ProcessModel& model,
                             const absl::flat_hash_map<StackId, SiteFigures>& per_stack,
                             StackSymbolizer& symbols, Grouping grouping, SiteKeys* keys) {
  SiteKeys local;
  SiteKeys& known = keys != nullptr ? *keys : local;
  absl::flat_hash_map<const std::string*, size_t> index;  // site name -> index into sites
  std::vector<Site> sites;
  // Each site's heaviest stack so far and its weight: only its frames are built whole, at the
  // end (a compiler's recording has hundreds of thousands of stacks, and the frames above the
  // site are the most of each).
  std::vector<std::pair<StackId, double>> shown;
  // Deterministic order: by stack id.
  std::vector<StackId> ids;
  for (const auto& [id, fig] : per_stack) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (StackId id : ids) {
    const SiteFigures& fig = per_stack.at(id);
    auto [entry, first] = known.of.try_emplace(id);
    if (first) {
      std::vector<DisplayFrame> frames = grouping == Grouping::kFullStack
                                             ? symbols.Frames(model, id)
                                             : symbols.FramesThroughSite(model, id);
      size_t site_frame = 0;
      while (site_frame + 1 < frames.size() && frames[site_frame].runtime) ++site_frame;
      if (grouping == Grouping::kAllocatingFunction) site_frame = 0;
      const std::string& name = *known.names.insert(SiteKey(frames, site_frame, grouping)).first;
      entry->second = SiteKeys::Entry{&name, static_cast<uint32_t>(site_frame)};
    }
    const SiteKeys::Entry e = entry->second;
    const size_t site_frame = e.site_frame;
    auto [it, inserted] = index.try_emplace(e.name, sites.size());
    if (inserted) {
      sites.push_back(Site{*e.name, {}, site_frame, {}, 0, {}});
      shown.emplace_back(id, -1);
    }
    Site& site = sites[it->second];
    site.figures.Add(fig);
    site.stack_count += 1;
    site.stacks.push_back(id);
    double weight = fig.live_bytes + fig.alloc_bytes + fig.mapped_bytes;
    if (weight > shown[it->second].second) {
      shown[it->second] = {id, weight};
      site.site_frame = site_frame;
    }
  }
  for (size_t i = 0; i < sites.size(); ++i) sites[i].frames = symbols.Frames(model, shown[i].first);
  return sites;
}

}  // namespace allocwatch::report
