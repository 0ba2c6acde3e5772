// report/render.h: report renderers (text for terminals, JSON for machines, HTML for people).
//
// Offline. Pure functions of a ProcessReport.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "report/analysis.h"

namespace allocwatch::report {

void RenderText(const ProcessReport& report, std::ostream& out);
nlohmann::json RenderJson(const ProcessReport& report);

// A JSON document for several processes: {"schema": ..., "processes": [...]}.
nlohmann::json RenderJsonDocument(const std::vector<ProcessReport>& reports);

// One self-contained HTML page (report/html_render.cc): the JSON document, plus each
// process's `stack_profile` (stacks live at exit or at the peak, for the flame graphs), drawn
// by an embedded script. `symbols` symbolizes the stacks (cached per address).
void RenderHtml(const std::vector<ProcessReport>& reports, StackSymbolizer& symbols,
                std::ostream& out);
// The document embedded in that page.
nlohmann::json RenderHtmlDocument(const std::vector<ProcessReport>& reports,
                                  StackSymbolizer& symbols);

// "1.50 MiB", "512 B".
std::string FormatBytes(double bytes);
// "1,234,567".
std::string FormatCount(double count);
// "1.52 s".
std::string FormatSeconds(uint64_t ns);

}  // namespace allocwatch::report
