// report/analysis/number_format.h: figures as people read them ("1.50 MiB", "1,234,567", "1.52 s"),
// for the text report, the diff and the diagnosis's evidence.
//
// Offline. Pure functions, thread-safe. Any double is accepted (a damaged recording can give
// any figure): none of them converts to an integer out of range.
#pragma once

#include <cstdint>
#include <string>

namespace allocwatch::report {

// "1.50 MiB", "512 B" (binary units, two decimals above 1 KiB).
std::string FormatBytes(double bytes);
// "1,234,567"; "%.3g" for figures of 10^18 or more and for NaN and infinities.
std::string FormatCount(double count);
// "1.52 s".
std::string FormatSeconds(uint64_t ns);
// "+1.50 MiB/s".
std::string FormatRate(double bytes_per_second);
// "12.5 s", "3.2 min", "5.0 h", "2.1 days".
std::string FormatDuration(double seconds);

}  // namespace allocwatch::report
