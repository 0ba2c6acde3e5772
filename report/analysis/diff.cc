// report/analysis/diff.cc: see diff.h.
#include "report/analysis/diff.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"

namespace allocwatch::report {
namespace {

void Collect(const std::vector<ProcessReport>& reports, bool is_base,
             absl::flat_hash_map<std::string, size_t>& index, std::vector<DiffEntry>& entries,
             double* live, double* slope, bool* exact) {
  auto entry = [&](const Site& s) -> DiffEntry& {
    auto [it, inserted] = index.try_emplace(s.key, entries.size());
    if (inserted) {
      entries.push_back(DiffEntry{s.key, s, {}, {}});
    } else if (!is_base) {
      entries[it->second].site = s;
    }
    return entries[it->second];
  };
  for (const ProcessReport& r : reports) {
    *exact = *exact && r.model->exact;
    *live += r.model->totals.live_bytes + r.model->totals.mapped_live_bytes;
    *slope += r.total_fit.slope;
    for (const Leak& l : r.leaks) {
      DiffSide& side = is_base ? entry(l.site).base : entry(l.site).next;
      side.present = true;
      side.live_bytes += l.site.figures.live_bytes;
      side.live_count += l.site.figures.live_count;
      side.live_bytes_bound = std::hypot(side.live_bytes_bound, l.bytes_bound);
    }
    for (const SiteGrowth& g : r.growth) {
      DiffSide& side = is_base ? entry(g.site).base : entry(g.site).next;
      side.present = true;
      side.slope += g.fit.slope;
      side.r2 = std::max(side.r2, g.fit.r2);
      side.growing = side.growing || g.growing();
    }
  }
}

}  // namespace

DiffReport BuildDiff(const std::vector<ProcessReport>& base, const std::vector<ProcessReport>& next,
                     size_t top) {
  DiffReport d;
  d.base_processes = base.size();
  d.next_processes = next.size();
  absl::flat_hash_map<std::string, size_t> index;
  Collect(base, true, index, d.entries, &d.base_live, &d.base_slope, &d.exact);
  Collect(next, false, index, d.entries, &d.next_live, &d.next_slope, &d.exact);
  d.entries.erase(std::remove_if(d.entries.begin(), d.entries.end(),
                                 [](const DiffEntry& e) {
                                   // A slope alone, without sustained growth on either side,
                                   // is noise (a step at start-up, say).
                                   return std::fabs(e.live_change()) < 0.5 &&
                                          e.base.growing == e.next.growing;
                                 }),
                  d.entries.end());
  std::stable_sort(d.entries.begin(), d.entries.end(), [](const DiffEntry& a, const DiffEntry& b) {
    if (a.started_growing() != b.started_growing()) return a.started_growing();
    return std::fabs(a.live_change()) > std::fabs(b.live_change());
  });
  d.entries_total = d.entries.size();
  if (top > 0 && d.entries.size() > top) d.entries.resize(top);
  return d;
}

}  // namespace allocwatch::report
