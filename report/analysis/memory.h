// report/analysis/memory.h: where a process's resident memory went, and why it is more than
// its live heap: the RSS breakdown of its memory snapshots (format::MemoryRecord) and the
// causes named from them.
//
// Offline. Pure: functions of the model and of sites already built from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/analysis/sites.h"
#include "report/replay/model.h"

namespace allocwatch::report {

// Resident memory at one snapshot, and what allocwatch can say holds it. Bytes.
struct RssBreakdown {
  uint64_t time_ns = 0;
  double rss = 0, anon = 0, file = 0, shmem = 0, swap = 0;
  uint32_t threads = 0;
  // The live heap as recorded (estimated in sampled mode, with its 95% bound).
  double live_heap = 0, live_heap_bound = 0;
  // glibc's figures (heap_known): chunks in use (headers included) and blocks mapped on their
  // own for large requests; the allocator's overhead is what they hold beyond the live heap.
  bool heap_known = false;
  double heap_in_use = 0, heap_mmapped = 0, overhead = 0;
  double arena_bytes = 0, arena_free = 0, releasable = 0;
  uint32_t arenas = 0;  // 0: not counted
  // The program's own mappings (mmap & co.), committed, by kind; and reserved address space.
  double mapped_anon = 0, mapped_file = 0, mapped_shared = 0, reserved = 0;
  // Of the committed mappings, what madvise gave back (not resident unless touched again).
  double discarded = 0;
  // The private anonymous mappings that can be resident: mapped_anon less discarded.
  double OwnPrivate() const { return mapped_anon > discarded ? mapped_anon - discarded : 0; }
  // What the heap holds from the kernel: glibc's arenas and blocks mapped on their own when its
  // figures are known, else the live heap.
  double HeapHeld() const { return heap_known ? arena_bytes + heap_mmapped : live_heap; }
  // Anonymous resident memory none of the above accounts for; negative when they hold more
  // than is resident (mapped or free memory that was never touched or was given back).
  double unexplained = 0;
  bool foreign_malloc = false;  // the program's malloc is not the one allocwatch wraps
};

enum class MemoryCauseKind {
  kFragmentation,  // much free memory inside glibc's arenas
  kMappingGrowth,  // resident memory grew through the program's own mappings
  kUnseenGrowth,   // resident memory grew, but nothing allocwatch records did
};
const char* MemoryCauseName(MemoryCauseKind kind);  // "fragmentation", "mapping_growth", ...

struct MemoryCause {
  MemoryCauseKind kind;
  std::string summary;   // one line: what it is, with its numbers
  std::string evidence;  // the figures that decided it
  std::string remedy;
  std::optional<Site> site;  // kMappingGrowth: the site that mapped the most
};

inline constexpr size_t kMaxMemorySeries = 600;

struct MemoryReport {
  std::optional<RssBreakdown> at_peak;  // at the snapshot of the highest RSS
  std::optional<RssBreakdown> at_end;   // at the last snapshot
  // Every snapshot's breakdown in time order, at most kMaxMemorySeries of them (evenly thinned,
  // the peak and the last kept): the HTML report's chart.
  std::vector<RssBreakdown> series;
  std::vector<MemoryCause> causes;
  std::string runtime;  // a runtime or allocator with its own heap found among the modules
};

RssBreakdown BreakdownOf(const ProcessModel& model, const MemorySnapshot& snapshot);

// The breakdowns and causes of `model` (version 4 recordings; empty before). `mappings` are
// the sites that hold mappings at the end, largest first (ProcessReport::mappings).
MemoryReport BuildMemoryReport(const ProcessModel& model, const std::vector<Site>& mappings);

// The name of a module of `model` that brings a heap of its own (another malloc such as
// jemalloc or tcmalloc, or a runtime such as the JVM's or V8's), or "".
std::string OwnHeapRuntime(const ProcessModel& model);

}  // namespace allocwatch::report
