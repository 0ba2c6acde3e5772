// report/render/render.h: report renderers: text for terminals, JSON for machines, HTML for people,
// pprof and folded stacks for profile viewers and flame graphs.
//
// Offline. Not thread-safe. A renderer reads only the reports (and their models) it is given and
// writes only to its stream or its result. The HTML page also symbolizes stacks, through the
// StackSymbolizer given (which opens ELF and debug files the first time it meets a module:
// report/symbols/stack_symbolizer.h); every other renderer uses the frames already in the
// reports.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "report/analysis/analysis.h"
#include "report/analysis/diff.h"

namespace allocwatch::report {

struct TextStyle {
  bool colour = false;  // ANSI colour (only when writing to a terminal)
};

void RenderText(const ProcessReport& report, std::ostream& out, const TextStyle& style = {});
// The section for several processes: totals and live sites over all of them.
void RenderCombinedText(const CombinedReport& combined, std::ostream& out,
                        const TextStyle& style = {});

// JSON schema "allocwatch.report"; see report/JSON.md.
inline constexpr int kJsonVersion = 3;
nlohmann::json RenderJson(const ProcessReport& report);
// One frame as the JSON report writes it (also embedded in the HTML page).
nlohmann::json FrameJson(const DisplayFrame& frame);
// {"schema": ..., "version": ..., "processes": [...], "combined": {...} (2 or more processes)}.
nlohmann::json RenderJsonDocument(const std::vector<ProcessReport>& reports,
                                  const CombinedReport* combined = nullptr);

// A gzip-compressed profile.proto (pprof) of every process: sample types alloc_objects,
// alloc_space, inuse_objects, inuse_space (inuse = live at the end of the data). Needs
// ProcessReport::stacks (ReportOptions::stacks). Each sample is labelled with its process's pid
// (number) and program (the executable's file name). `default_type`: the sample type a viewer
// shows first (Go's heap profile: inuse_space; its allocs profile: alloc_space).
std::string RenderPprof(const std::vector<ProcessReport>& reports,
                        const std::string& default_type = "inuse_space");

// What one folded-stacks file counts.
enum class FoldedMetric {
  kInuseSpace,    // bytes live at the end
  kInuseObjects,  // blocks live at the end
  kAllocSpace,    // bytes allocated over the run
  kAllocObjects,  // allocation calls over the run
  kPeakSpace,     // bytes live at the peak
  kPeakObjects,   // blocks live at the peak
};
// "inuse_space" ... ; false for an unknown name.
bool ParseFoldedMetric(const std::string& name, FoldedMetric* metric);
// "frame;frame;frame value" lines, root first, one per stack with a non-zero value. Needs
// ProcessReport::stacks. With several processes, each line starts with "PROGRAM (pid N)".
void RenderFolded(const std::vector<ProcessReport>& reports, FoldedMetric metric,
                  std::ostream& out);

// Folded name of a frame: "function" (inlined frames too), else "module+0xoffset".
std::string FoldedFrameName(const DisplayFrame& frame);

// `allocwatch diff` (report/analysis/diff.h) for terminals, and as JSON (schema "allocwatch.diff",
// version 1; report/JSON.md).
void RenderDiffText(const DiffReport& diff, std::ostream& out, const TextStyle& style = {});
nlohmann::json RenderDiffJson(const DiffReport& diff);

// One self-contained HTML page (report/render/html_render.cc): the JSON document, plus each
// process's `stack_profile` (stacks live at exit or at the peak, for the flame graphs), drawn
// by an embedded script. `symbols` symbolizes the stacks (cached per address).
void RenderHtml(const std::vector<ProcessReport>& reports, StackSymbolizer& symbols,
                std::ostream& out);
// The document embedded in that page.
nlohmann::json RenderHtmlDocument(const std::vector<ProcessReport>& reports,
                                  StackSymbolizer& symbols);

}  // namespace allocwatch::report
