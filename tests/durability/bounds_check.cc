// tests/durability/bounds_check.cc: see bounds_check.h.
#include "bounds_check.h"

#include <sstream>

namespace allocwatch::durability_test {
namespace {

std::string Figures(const Amount& a) {
  return std::to_string(a.calls) + " calls " + std::to_string(a.bytes) + " bytes";
}

}  // namespace

std::string DescribeLogged(const SiteLedger& site) {
  return "logged by the cutoff " + Figures(site.done_by_cutoff) + ", done in all " +
         Figures(site.done) + ", begun " + Figures(site.begun);
}

std::vector<std::string> CheckThread(long tid, const ThreadLedger& logged, const Recorded& recorded,
                                     const std::vector<std::string>& checked) {
  std::vector<std::string> issues;
  if (!recorded.error.empty()) {
    issues.push_back("thread " + std::to_string(tid) + ": " + recorded.error);
    return issues;
  }
  for (const std::string& name : checked) {
    auto it = logged.find(name);
    if (it == logged.end()) continue;  // the thread never reached this site
    const SiteLedger& site = it->second;
    RecordedSite held = recorded.Site(name);
    bool low = held.alloc_count < site.done_by_cutoff.calls ||
               held.alloc_bytes < site.done_by_cutoff.bytes;
    bool high = held.alloc_count > site.begun.calls || held.alloc_bytes > site.begun.bytes;
    if (!low && !high) continue;
    std::ostringstream s;
    s << "thread " << tid << " " << name << ": " << (low ? "lost records" : "more than allocated")
      << ": " << DescribeLogged(site) << "; the recording holds " << held.alloc_count << " calls "
      << held.alloc_bytes << " bytes";
    issues.push_back(s.str());
  }
  return issues;
}

}  // namespace allocwatch::durability_test
