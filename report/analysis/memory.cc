// report/analysis/memory.cc: see memory.h.
#include "report/analysis/memory.h"

#include <algorithm>
#include <cmath>

#include "report/analysis/analysis.h"
#include "report/analysis/number_format.h"
#include "report/analysis/process_memory.h"

namespace allocwatch::report {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// Below these, a difference is not worth a named cause.
constexpr double kMinFreeInArenas = 16 * kMiB;
constexpr double kMinFreeShareOfAnon = 0.3;
constexpr double kMinGrowth = 16 * kMiB;
constexpr double kMinUnseenGrowth = 32 * kMiB;
constexpr double kMappedShareOfGrowth = 0.5;  // mappings grew by at least this share of RSS
constexpr double kSeenShareOfGrowth = 0.25;   // what allocwatch saw grew by less than this

std::string B(double bytes) { return FormatBytes(bytes); }

// What allocwatch sees of the anonymous memory at a snapshot: the heap (glibc's figures when
// known, else the live heap) and the program's committed anonymous and shared mappings.
double Seen(const RssBreakdown& b) { return b.HeapHeld() + b.OwnPrivate(); }

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

const char* MemoryCauseName(MemoryCauseKind kind) {
  switch (kind) {
    case MemoryCauseKind::kFragmentation:
      return "fragmentation";
    case MemoryCauseKind::kMappingGrowth:
      return "mapping_growth";
    case MemoryCauseKind::kUnseenGrowth:
      return "unseen_growth";
  }
  return "unknown";
}

RssBreakdown BreakdownOf(const ProcessModel& model, const MemorySnapshot& s) {
  const format::MemoryRecord& r = s.record;
  RssBreakdown b;
  b.time_ns = r.time_ns;
  b.anon = static_cast<double>(r.rss_anon_bytes);
  b.file = static_cast<double>(r.rss_file_bytes);
  b.shmem = static_cast<double>(r.rss_shmem_bytes);
  b.swap = static_cast<double>(r.swap_bytes);
  b.rss = (r.flags & format::kMemoryFlagStatus) ? b.anon + b.file + b.shmem
                                                : static_cast<double>(s.rss_bytes);
  b.threads = r.threads;
  b.live_heap = std::max(0.0, s.live_heap_bytes);
  b.live_heap_bound = model.exact ? 0 : Bound(s.live_heap_bytes_var);
  b.foreign_malloc = (r.flags & format::kMemoryFlagForeignMalloc) != 0;
  b.heap_known = (r.flags & format::kMemoryFlagMallinfo) != 0;
  if (b.heap_known) {
    b.heap_mmapped = static_cast<double>(r.heap_mmapped_bytes);
    b.heap_in_use = static_cast<double>(r.arena_in_use_bytes) + b.heap_mmapped;
    b.overhead = std::max(0.0, b.heap_in_use - b.live_heap);
    b.arena_bytes = static_cast<double>(r.arena_bytes);
    b.arena_free = static_cast<double>(r.arena_free_bytes);
    b.releasable = static_cast<double>(r.releasable_bytes);
  }
  if (r.flags & format::kMemoryFlagArenas) b.arenas = r.arenas;
  b.mapped_anon = static_cast<double>(r.mapped_anon_bytes);
  b.mapped_file = static_cast<double>(r.mapped_file_bytes);
  b.mapped_shared = static_cast<double>(r.mapped_shared_bytes);
  b.reserved = static_cast<double>(r.mapped_reserved_bytes);
  b.discarded = s.discarded_bytes;
  b.unexplained = b.anon - b.HeapHeld() - b.OwnPrivate();
  return b;
}

std::string OwnHeapRuntime(const ProcessModel& model) {
  std::string name = OwnHeapName(model.exe);
  for (size_t i = 0; name.empty() && i < model.modules.size(); ++i) {
    name = OwnHeapName(model.modules[i].path);
  }
  return name;
}

MemoryReport BuildMemoryReport(const ProcessModel& model, const std::vector<Site>& mappings) {
  MemoryReport out;
  if (model.memory.empty()) return out;
  std::vector<RssBreakdown> all;
  all.reserve(model.memory.size());
  size_t peak = 0;
  for (const MemorySnapshot& s : model.memory) {
    all.push_back(BreakdownOf(model, s));
    if (all.back().rss > all[peak].rss) peak = all.size() - 1;
  }
  out.at_peak = all[peak];
  out.at_end = all.back();
  const size_t stride = (all.size() + kMaxMemorySeries - 1) / kMaxMemorySeries;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i % stride == 0 || i == peak || i + 1 == all.size()) out.series.push_back(all[i]);
  }
  out.runtime = OwnHeapRuntime(model);
  const RssBreakdown& first = all.front();
  const RssBreakdown& top = *out.at_peak;

  // Fragmentation: at the peak or the end, whichever holds more free memory in the arenas.
  const RssBreakdown& frag = out.at_end->arena_free > top.arena_free ? *out.at_end : top;
  if (frag.heap_known && frag.arena_free >= kMinFreeInArenas &&
      frag.arena_free >= kMinFreeShareOfAnon * frag.anon) {
    MemoryCause c{MemoryCauseKind::kFragmentation, "", "", "", std::nullopt};
    std::string arenas =
        frag.arenas > 0 ? Plural(frag.arenas, "glibc arena", "glibc arenas") : "glibc's arenas";
    // Threads seen: the arenas outlive the threads they served.
    uint32_t threads = static_cast<uint32_t>(model.threads.size());
    for (const MemorySnapshot& m : model.memory) threads = std::max(threads, m.record.threads);
    c.summary = "fragmentation: " + B(frag.arena_free) + " free in " + arenas +
                " held by a program with " + Plural(threads, "thread", "threads");
    c.evidence = "at " + FormatSeconds(frag.time_ns) + ": the arenas hold " + B(frag.arena_bytes) +
                 ", " + B(frag.arena_free) + " of it free, while the live heap is " +
                 (model.exact ? "" : "~") + B(frag.live_heap) + "; anonymous RSS " + B(frag.anon) +
                 "; " + B(frag.releasable) +
                 " of the free memory is at the top of the main arena (what trimming returns "
                 "without madvise)";
    if (frag.arenas > 1) {
      c.remedy =
          "MALLOC_ARENA_MAX=2 (fewer arenas to strand free memory in), malloc_trim(0) after a "
          "burst of frees, or an allocator that returns memory (jemalloc, tcmalloc)";
    } else {
      c.remedy =
          "malloc_trim(0) after a burst of frees, a lower M_TRIM_THRESHOLD / M_MMAP_THRESHOLD "
          "(mallopt), or freeing long-lived blocks last";
    }
    out.causes.push_back(std::move(c));
  }

  const double grew = top.anon - first.anon;
  const double mapped_grew = top.OwnPrivate() - first.OwnPrivate();
  const double seen_grew = Seen(top) - Seen(first);
  if (grew >= kMinGrowth && mapped_grew >= kMappedShareOfGrowth * grew) {
    MemoryCause c{MemoryCauseKind::kMappingGrowth, "", "", "", std::nullopt};
    c.summary = "RSS grows through mappings, not the heap: +" + B(mapped_grew) +
                " committed by the program's own mmap and mprotect calls";
    if (!mappings.empty()) {
      c.site = mappings.front();
      const Site& top_site = mappings.front();
      std::string name = "one site";
      if (top_site.site_frame < top_site.frames.size() &&
          !top_site.frames[top_site.site_frame].function.empty()) {
        name = top_site.frames[top_site.site_frame].function;
      }
      c.summary += ", most of it (" + B(top_site.figures.mapped_live_bytes) + ") by " + name;
    }
    c.evidence = "from " + FormatSeconds(first.time_ns) + " to " + FormatSeconds(top.time_ns) +
                 ": anonymous RSS +" + B(grew) + ", committed mappings +" + B(mapped_grew) +
                 ", the heap +" + B(seen_grew - mapped_grew);
    c.remedy = "see \"Mappings live at exit\": unmap what is no longer used, or reuse mappings";
    if (!out.runtime.empty()) {
      c.evidence += "; loaded: " + out.runtime + ", whose heap is made of such mappings";
      c.remedy +=
          "; a runtime's heap is sized by its own options (the JVM: -Xmx, "
          "-XX:MaxMetaspaceSize, -XX:ReservedCodeCacheSize)";
    }
    out.causes.push_back(std::move(c));
  } else if (grew >= kMinUnseenGrowth && seen_grew < kSeenShareOfGrowth * grew) {
    MemoryCause c{MemoryCauseKind::kUnseenGrowth, "", "", "", std::nullopt};
    c.summary = "RSS grows but nothing allocwatch sees does: +" + B(grew) +
                " anonymous resident, +" + B(std::max(0.0, seen_grew)) +
                " in the heap and mappings it records";
    c.evidence = "from " + FormatSeconds(first.time_ns) + " to " + FormatSeconds(top.time_ns);
    if (top.foreign_malloc) {
      c.evidence +=
          "; the malloc the program calls is not the C library's: the executable or a library "
          "loaded before allocwatch defines its own (a statically linked allocator)";
    }
    if (!out.runtime.empty()) c.evidence += "; loaded: " + out.runtime;
    c.summary += top.foreign_malloc || !out.runtime.empty()
                     ? ": another allocator or a runtime's own heap"
                     : ": memory obtained by raw system calls or another allocator";
    c.remedy =
        "use that allocator's or runtime's own profiler (jemalloc's prof, "
        "-XX:NativeMemoryTracking=summary for the JVM, V8's heap snapshots, tracemalloc for "
        "Python), or a build "
        "that uses the C library's malloc";
    out.causes.push_back(std::move(c));
  }
  return out;
}

}  // namespace allocwatch::report
