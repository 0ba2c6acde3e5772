// report/analysis/number_format.cc: see number_format.h.
#include "report/analysis/number_format.h"

#include <cmath>
#include <cstdio>

namespace allocwatch::report {

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = std::fabs(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char buf[32];
  if (u == 0) {
    // Estimates summed in floating point leave -1e-9 where nothing is live: that is 0 B.
    std::snprintf(buf, sizeof(buf), "%s%.0f B", bytes <= -0.5 ? "-" : "", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%s%.2f %s", bytes < 0 ? "-" : "", v, units[u]);
  }
  return buf;
}

std::string FormatCount(double count) {
  // Figures from a damaged recording can be anything: no integer conversion out of range.
  if (!std::isfinite(count) || std::fabs(count) >= 1e18) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3g", count);
    return buf;
  }
  auto n = static_cast<long long>(std::llround(count));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string FormatRate(double bytes_per_second) {
  std::string out = bytes_per_second >= 0 ? "+" : "";
  out.append(FormatBytes(bytes_per_second)).append("/s");
  return out;
}

std::string FormatDuration(double seconds) {
  char buf[32];
  if (seconds < 120) {
    std::snprintf(buf, sizeof(buf), "%.1f s", seconds);
  } else if (seconds < 7200) {
    std::snprintf(buf, sizeof(buf), "%.1f min", seconds / 60);
  } else if (seconds < 172800) {
    std::snprintf(buf, sizeof(buf), "%.1f h", seconds / 3600);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f days", seconds / 86400);
  }
  return buf;
}

std::string FormatSeconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace allocwatch::report
