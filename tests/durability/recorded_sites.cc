// tests/durability/recorded_sites.cc: see recorded_sites.h.
#include "recorded_sites.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "child_process.h"

namespace allocwatch::durability_test {
namespace {

constexpr int kReportTimeoutMs = 60 * 1000;

using nlohmann::json;

// "grow_site(Kept&)" -> "grow_site".
std::string FunctionName(const std::string& function) {
  return function.substr(0, function.find('('));
}

void AddSites(const json& allocators, const std::vector<std::string>& names, Recorded* out) {
  for (const json& site : allocators) {
    const json& frame = site.at("frames").at(site.at("site_frame").get<size_t>());
    std::string name = FunctionName(frame.value("function", ""));
    if (std::find(names.begin(), names.end(), name) == names.end()) continue;
    RecordedSite& r = out->sites[name];
    r.alloc_count += site.at("alloc_count").get<uint64_t>();
    r.alloc_bytes += site.at("alloc_bytes").get<uint64_t>();
    r.samples += site.at("samples").get<uint64_t>();
  }
}

void ReadProcess(const json& process, const std::vector<std::string>& names, Recorded* out) {
  out->exact = process.at("mode").at("exact").get<bool>();
  out->sample_bytes = process.at("mode").at("sample_bytes").get<uint64_t>();
  out->end_how = process.at("end").at("how").get<std::string>();
  out->duration_s = static_cast<double>(process.at("end").at("duration_ns").get<int64_t>()) / 1e9;
  out->snapshots = process.at("snapshots").size();
  for (const json& w : process.at("warnings")) out->warnings.push_back(w.get<std::string>());
  AddSites(process.at("allocators"), names, out);
}

}  // namespace

RecordedSite Recorded::Site(const std::string& name) const {
  auto it = sites.find(name);
  return it == sites.end() ? RecordedSite{} : it->second;
}

std::string Recorded::Describe(const std::vector<std::string>& names) const {
  if (!error.empty()) return "no report: " + error;
  std::ostringstream s;
  for (const std::string& name : names) {
    RecordedSite r = Site(name);
    s << name << " " << r.alloc_count << " calls " << r.alloc_bytes << " bytes (" << r.samples
      << " samples); ";
  }
  s << "end " << end_how << " at " << duration_s << " s, " << snapshots << " snapshots, "
    << (exact ? std::string("exact") : "sample_bytes " + std::to_string(sample_bytes));
  for (const std::string& w : warnings) s << "; warning: " << w;
  return s.str();
}

Recorded ReadRecorded(const std::string& allocwatch, const std::string& recording, long tid,
                      const std::vector<std::string>& site_names) {
  Recorded out;
  Captured report = RunCapturing({allocwatch, "report", "--format", "json", "--top", "0",
                                  "--thread", std::to_string(tid), recording},
                                 kReportTimeoutMs);
  if (!report.Succeeded()) {
    out.error = "allocwatch report " + report.Describe();
    return out;
  }
  try {
    json doc = json::parse(report.out);
    const json& processes = doc.at("processes");
    if (processes.size() != 1) {
      out.error = "the report has " + std::to_string(processes.size()) + " processes";
      return out;
    }
    ReadProcess(processes.at(0), site_names, &out);
  } catch (const json::exception& e) {
    out.error = std::string("the JSON report is not as report/JSON.md says: ") + e.what();
  }
  return out;
}

}  // namespace allocwatch::durability_test
