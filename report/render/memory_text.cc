// report/render/memory_text.cc: the text report's "Where the resident memory goes": the RSS
// breakdown at the peak and at the end (analysis/memory.h) and the causes named from it.
#include "report/render/memory_text.h"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <string>

#include "report/analysis/number_format.h"

namespace allocwatch::report {
namespace {

// One row of the RSS table: a label and the figure at the peak and at the end.
void MemoryRow(const char* label, double at_peak, double at_end, const std::string& note,
               std::ostream& out) {
  char line[200];
  std::snprintf(line, sizeof(line), "  %-38s %12s %12s", label, FormatBytes(at_peak).c_str(),
                FormatBytes(at_end).c_str());
  out << line;
  if (!note.empty()) out << "  " << note;
  out << "\n";
}

}  // namespace

void ResidentMemoryText(const ProcessReport& r, const Paint& paint, std::ostream& out) {
  const MemoryReport& mr = r.memory;
  if (!mr.at_peak || !mr.at_end) return;
  const RssBreakdown& p = *mr.at_peak;
  const RssBreakdown& e = *mr.at_end;
  const std::string est = Estimate(r.model->exact);
  out << "\n" << paint.Title("Where the resident memory goes") << "\n";
  char head[200];
  std::snprintf(head, sizeof(head), "  %-38s %12s %12s", "",
                ("peak " + FormatSeconds(p.time_ns)).c_str(),
                ("end " + FormatSeconds(e.time_ns)).c_str());
  out << head << "\n";
  MemoryRow("resident (RSS)", p.rss, e.rss, "", out);
  MemoryRow("  anonymous", p.anon, e.anon, "", out);
  MemoryRow("  file-backed (code, data files)", p.file, e.file, "", out);
  MemoryRow("  shared memory", p.shmem, e.shmem, "", out);
  if (p.swap > 0 || e.swap > 0) MemoryRow("swapped out (not in RSS)", p.swap, e.swap, "", out);
  out << "  anonymous memory, by what holds it:\n";
  std::string live_note = est.empty() ? "" : "estimated";
  if (!est.empty() && (p.live_heap_bound > 0 || e.live_heap_bound > 0)) {
    live_note = "±" + FormatBytes(e.live_heap_bound) + " at the end";
  }
  MemoryRow("  live heap blocks (bytes requested)", p.live_heap, e.live_heap, live_note, out);
  if (p.heap_known || e.heap_known) {
    if (r.model->attached) {
      // glibc's in-use figure counts every block; the recording only those since the attach.
      MemoryRow("  blocks from before the attach", p.overhead, e.overhead,
                "and the allocator's overhead", out);
    } else {
      MemoryRow("  the allocator's overhead on them", p.overhead, e.overhead,
                "chunk headers, rounding", out);
    }
    std::string arenas = e.arenas == 1  ? "1 arena at the end"
                         : e.arenas > 0 ? std::to_string(e.arenas) + " arenas at the end"
                                        : "";
    MemoryRow("  free inside glibc's arenas", p.arena_free, e.arena_free, arenas, out);
    if (e.releasable > 0 || p.releasable > 0) {
      MemoryRow("    of it, at the main arena's top", p.releasable, e.releasable,
                "trimmed back at once", out);
    }
  } else {
    out << "    (the heap's own figures are unknown: "
        << (e.foreign_malloc ? "the program's malloc is not the C library's"
                             : "the C library's malloc is not glibc's")
        << ")\n";
  }
  MemoryRow("  the program's own mappings", p.mapped_anon, e.mapped_anon, "committed (mmap & co.)",
            out);
  if (p.discarded > 0 || e.discarded > 0) {
    MemoryRow("    of it, given back by madvise", p.discarded, e.discarded,
              "not resident until touched", out);
  }
  auto unexplained = [](double v) { return std::max(0.0, v); };
  MemoryRow("  not explained", unexplained(p.unexplained), unexplained(e.unexplained), "", out);
  if (p.unexplained < 0 || e.unexplained < 0) {
    Wrapped("      ",
            "(the rows above hold more than is resident: some of it was never touched or "
            "was given back)",
            out);
  } else {
    Wrapped("      ",
            "(thread stacks of " + std::to_string(e.threads) +
                " threads, the loader's data, memory allocwatch does not see)",
            out);
  }
  if (p.mapped_shared > 0 || e.mapped_shared > 0) {
    MemoryRow("shared memory mapped by the program", p.mapped_shared, e.mapped_shared,
              "committed (MAP_SHARED)", out);
  }
  if (p.mapped_file > 0 || e.mapped_file > 0) {
    MemoryRow("file mappings of the program (mapped)", p.mapped_file, e.mapped_file, "", out);
  }
  if (p.reserved > 0 || e.reserved > 0) {
    MemoryRow("reserved address space (PROT_NONE)", p.reserved, e.reserved, "not memory", out);
  }
  for (const MemoryCause& c : mr.causes) {
    out << "\n";
    Wrapped("  ", paint.Bad(c.summary), out);
    Wrapped("    why     ", c.evidence, out);
    Wrapped("    remedy  ", c.remedy, out);
    if (c.site) StackLines(c.site->frames, c.site->site_frame, kCallerLines, out);
  }
}

}  // namespace allocwatch::report
