// report/render.h: report renderers (text for terminals, JSON for machines).
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

// "1.50 MiB", "512 B".
std::string FormatBytes(double bytes);
// "1,234,567".
std::string FormatCount(double count);
// "1.52 s".
std::string FormatSeconds(uint64_t ns);

}  // namespace allocwatch::report
