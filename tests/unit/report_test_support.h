// tests/unit/report_test_support.h: loading constructed recordings into reports, and a
// recording with known growth, shared by the report tests.
#pragma once

#include <memory>
#include <string>

#include "recording_builder.h"
#include "report/analysis/analysis.h"
#include "report/replay/model.h"

namespace allocwatch::unit_test {

// A loaded recording and its report (symbols off: frames are addresses or module+offset).
struct Loaded {
  report::ProcessModel model;
  report::StackSymbolizer symbols{{}, false};
  report::ProcessReport report;
};

inline std::unique_ptr<Loaded> Load(const std::string& path, report::ReportOptions options = {},
                                    report::LoadOptions load = {}) {
  auto out = std::make_unique<Loaded>();
  out->model = report::LoadProcess(path, load);
  out->report = report::BuildReport(out->model, out->symbols, options);
  return out;
}

// The address of the frame that names a site.
inline uint64_t SiteAddress(const report::Site& s) { return s.frames.at(s.site_frame).address; }

inline const report::Leak* FindLeak(const report::ProcessReport& r, uint64_t address) {
  for (const report::Leak& l : r.leaks) {
    if (SiteAddress(l.site) == address) return &l;
  }
  return nullptr;
}

inline const report::SiteGrowth* FindGrowth(const report::ProcessReport& r, uint64_t address) {
  for (const report::SiteGrowth& g : r.growth) {
    if (SiteAddress(g.site) == address) return &g;
  }
  return nullptr;
}

// Stack 1 (0x1000) leaks 1000 B every 100 ms: 10,000 B/s. Stack 2 (0x2000) holds one 50,000 B
// block from 10 ms on. Stack 3 (0x3000) gains 2000 B every 100 ms until 8.5 s, then frees all
// at 9 s. Snapshots every second (RSS 100 KB a second), end at 10.5 s.
inline void GrowthRun(Builder& b) {
  b.Stack(1, {0x1000, 0x1100});
  b.Stack(2, {0x2000, 0x1100});
  b.Stack(3, {0x3000, 0x1100});
  b.Alloc(kSecond / 100, 0x900000, 50000, 2);
  std::vector<uint64_t> third;
  uint64_t next_snapshot = kSecond;
  for (int i = 0; i < 105; ++i) {
    uint64_t t = kSecond / 20 + static_cast<uint64_t>(i) * kSecond / 10;
    while (next_snapshot <= t) {
      b.Snapshot(next_snapshot, next_snapshot / kSecond * 100000);
      next_snapshot += kSecond;
    }
    if (t >= 9 * kSecond && !third.empty()) {
      for (uint64_t a : third) b.Free(t, a);
      third.clear();
    }
    b.Alloc(t, 0x100000 + i * 0x1000, 1000, 1);
    if (t < 8 * kSecond + kSecond / 2) {
      third.push_back(0x500000 + i * 0x1000);
      b.Alloc(t, third.back(), 2000, 3);
    }
  }
  b.Snapshot(10 * kSecond, 1000000);
  b.End(10 * kSecond + kSecond / 2);
}

}  // namespace allocwatch::unit_test
