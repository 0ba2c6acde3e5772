// report/render/memory_text.h: the text report's "Where the resident memory goes" section.
//
// Offline. Writes only to `out`.
#pragma once

#include <ostream>

#include "report/analysis/analysis.h"
#include "report/render/text_format.h"

namespace allocwatch::report {

// The RSS table at the peak and at the end and each cause below it; nothing for a recording
// without memory snapshots (before format 4).
void ResidentMemoryText(const ProcessReport& r, const Paint& paint, std::ostream& out);

}  // namespace allocwatch::report
