// tests/unit/report_output_test.cc: suppressions, diff, several processes, the text, folded
// and JSON output, and recordings still being written, on recordings written here.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "report/analysis/diff.h"
#include "report/analysis/growth.h"
#include "report/analysis/suppressions.h"
#include "report/render/render.h"
#include "report_test_support.h"

namespace allocwatch::unit_test {
namespace {

TEST_CASE("suppression patterns", "[suppressions]") {
  using report::PatternMatches;
  CHECK(PatternMatches("Leaky", "MyLeakyThing::Make"));  // substring, as LeakSanitizer
  CHECK(PatternMatches("^My*Make$", "MyLeakyThing::Make"));
  CHECK_FALSE(PatternMatches("^Leaky", "MyLeakyThing::Make"));
  CHECK(PatternMatches("lib*.so", "/usr/lib/libfoo.so.1"));
  CHECK_FALSE(PatternMatches("lib*.so$", "/usr/lib/libfoo.so.1"));
  CHECK_FALSE(PatternMatches("", "x"));
  CHECK_FALSE(PatternMatches("x", ""));

  char path[] = "/tmp/allocwatch-supp-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "# known leaks\n\nleak:libleaky.so\n  race:ignored_by_allocwatch\nstd::vector<int>\n";
  }
  report::Suppressions s = report::Suppressions::Load(path);
  unlink(path);
  CHECK(s.patterns() == std::vector<std::string>{"libleaky.so", "std::vector<int>"});
  CHECK_THROWS_AS(report::Suppressions::Load("/nonexistent/suppressions"), std::runtime_error);
}

TEST_CASE("suppressed stacks are left out of the lists and counted", "[suppressions]") {
  Builder b;
  b.Module(1, "/opt/lib/libleaky.so", 0x7000000, 0x7100000);
  b.Stack(1, {0x1000});
  b.Stack(2, {0x7000100, 0x1000});
  b.Alloc(10, 0xA0, 100, 1);
  b.Alloc(20, 0xB0, 5000, 2);
  b.End(30);
  report::Suppressions supp;
  supp.Add("libleaky");
  report::ReportOptions options;
  options.suppressions = &supp;
  auto l = Load(b.Write(), options);
  REQUIRE(l->report.leaks.size() == 1);
  CHECK(SiteAddress(l->report.leaks[0].site) == 0x1000);
  CHECK(l->report.suppressed.stacks == 1);
  CHECK(l->report.suppressed.live_bytes == 5000);
  REQUIRE(l->report.suppressed.patterns.size() == 1);
  CHECK(l->report.suppressed.patterns[0].first == "libleaky");
  CHECK(l->model.totals.live_bytes == 5100);  // totals keep everything
}

TEST_CASE("diff: a site that started growing comes first, with its live change", "[diff]") {
  auto run = [](Builder& b, bool leak) {
    b.Stack(1, {0x1000});
    b.Stack(2, {0x2000});
    b.Alloc(10, 0x10, 5000, 1);
    for (int i = 0; i < 10; ++i) {
      uint64_t t = static_cast<uint64_t>(i) * kSecond + kSecond / 2;
      if (leak) b.Alloc(t, 0x100000 + i * 0x1000, 8192, 2);
      b.Snapshot(static_cast<uint64_t>(i + 1) * kSecond);
    }
    b.End(10 * kSecond + 1);
  };
  Builder base_b, next_b;
  run(base_b, false);
  run(next_b, true);
  report::ReportOptions all;
  all.top = 0;
  auto base = Load(base_b.Write(), all);
  auto next = Load(next_b.Write(), all);
  std::vector<report::ProcessReport> bases, nexts;
  bases.push_back(base->report);
  nexts.push_back(next->report);
  report::DiffReport d = report::BuildDiff(bases, nexts, 10);
  REQUIRE(d.entries.size() == 1);  // the unchanged site is left out
  const report::DiffEntry& e = d.entries[0];
  CHECK(SiteAddress(e.site) == 0x2000);
  CHECK(e.started_growing());
  CHECK(e.live_change() == 81920);
  CHECK(e.next.slope == Approx(8192).epsilon(0.05));
  CHECK(d.next_live - d.base_live == 81920);

  nlohmann::json j = report::RenderDiffJson(d);
  CHECK(j.at("schema") == "allocwatch.diff");
  CHECK(j.at("sites").at(0).at("live_bytes_change") == 81920);
  CHECK(j.at("sites").at(0).at("started_growing") == true);
  std::ostringstream text;
  report::RenderDiffText(d, text);
  CHECK(text.str().find("started growing") != std::string::npos);
}

TEST_CASE("several processes: totals added up, sites merged by key", "[multi]") {
  Builder parent(1, 100, 1), child(1, 101, 100);
  for (Builder* b : {&parent, &child}) {
    b->Stack(1, {0x1000});
    b->Alloc(10, 0x10, 300, 1);
    b->End(20);
  }
  child.Stack(2, {0x2000});
  auto p = Load(parent.Write());
  auto c = Load(child.Write());
  std::vector<report::ProcessReport> reports = {p->report, c->report};
  report::CombinedReport all = report::BuildCombined(reports, 10);
  CHECK(all.processes == 2);
  CHECK(all.totals.live_bytes == 600);
  REQUIRE(all.leaks.size() == 1);
  CHECK(all.leaks[0].figures.live_bytes == 600);
  CHECK(all.leaks[0].figures.live_count == 2);
  nlohmann::json doc = report::RenderJsonDocument(reports, &all);
  CHECK(doc.at("processes").size() == 2);
  CHECK(doc.at("combined").at("totals").at("live_bytes") == 600);
}

TEST_CASE("folded stacks: root first, one line per stack, the chosen metric", "[folded]") {
  Builder b;
  b.Module(1, "/opt/lib/libx.so", 0x7000000, 0x7100000);
  b.Stack(1, {0x7000010, 0x2000});
  b.Stack(2, {0x3000, 0x2000});
  b.Alloc(10, 0xA0, 100, 1);
  b.Alloc(11, 0xB0, 40, 1);
  b.Alloc(12, 0xC0, 7, 2);
  b.Free(13, 0xC0);
  b.End(20);
  report::ReportOptions options;
  options.stacks = true;
  auto l = Load(b.Write(), options);
  std::vector<report::ProcessReport> reports = {l->report};
  std::ostringstream inuse, alloc_objects, peak;
  report::RenderFolded(reports, report::FoldedMetric::kInuseSpace, inuse);
  CHECK(inuse.str() == "0x2000;libx.so+0x7000010 140\n");
  report::RenderFolded(reports, report::FoldedMetric::kAllocObjects, alloc_objects);
  CHECK(alloc_objects.str() == "0x2000;libx.so+0x7000010 2\n0x2000;0x3000 1\n");
  report::RenderFolded(reports, report::FoldedMetric::kPeakSpace, peak);
  CHECK(peak.str() == "0x2000;libx.so+0x7000010 140\n0x2000;0x3000 7\n");
  report::FoldedMetric m{};
  CHECK(report::ParseFoldedMetric("alloc_space", &m));
  CHECK(m == report::FoldedMetric::kAllocSpace);
  CHECK_FALSE(report::ParseFoldedMetric("bogus", &m));
}

TEST_CASE("JSON: growth series, leak kinds and per-stack values for flame graphs", "[json]") {
  Builder b;
  GrowthRun(b);
  report::ReportOptions options;
  options.stacks = true;
  auto l = Load(b.Write(), options);
  nlohmann::json doc = report::RenderJsonDocument({l->report});
  CHECK(doc.at("version") == report::kJsonVersion);
  const nlohmann::json& p = doc.at("processes").at(0);
  const nlohmann::json& g = p.at("growth").at("sites").at(0);
  CHECK(g.at("sustained") == true);
  const size_t samples = l->model.series_times_ns.size();
  REQUIRE(samples > 100);
  CHECK(g.at("series").size() == samples);
  CHECK(g.at("series").at(0).at(0).get<double>() == 0);
  CHECK(g.at("series").at(0).at(1) == 0);
  CHECK(g.at("series").at(samples - 1).at(0).get<double>() == Approx(10.5));
  CHECK(g.at("series").at(samples - 1).at(1) == 105000);
  CHECK(g.at("fit").at("slope_bytes_per_s").get<double>() == Approx(10000).epsilon(0.02));
  CHECK(p.at("growth").at("total").at("series").size() == samples);
  std::map<std::string, int> kinds;
  for (const auto& leak : p.at("leaks")) kinds[leak.at("kind").get<std::string>()] += 1;
  CHECK(kinds == std::map<std::string, int>{{"growing", 1}, {"since_start", 1}});
  REQUIRE(p.at("stacks").size() == 3);
  int64_t at_exit = 0, at_peak = 0;
  for (const auto& s : p.at("stacks")) {
    at_exit += s.at("at_exit").at("live_bytes").get<int64_t>();
    at_peak += s.at("at_peak").at("live_bytes").get<int64_t>();
    CHECK(s.at("frames").size() == 2);
  }
  CHECK(at_exit == p.at("totals").at("live_bytes"));
  CHECK(at_peak == p.at("peak").at("live_bytes"));
}

TEST_CASE("a recording still being written is read up to its last whole record, repeatedly",
          "[live]") {
  Builder b;
  GrowthRun(b);
  // Cut inside the last record (the end record): read as cut short, the tail noted.
  auto partial = Load(b.Write(8));
  CHECK(partial->model.ending == report::Ending::kCutShort);
  CHECK(partial->model.truncated_tail);
  CHECK(partial->model.totals.live_bytes == 155000);
  // The same file, complete.
  auto whole = Load(b.Write());
  CHECK(whole->model.ending == report::Ending::kExit);
  CHECK_FALSE(whole->model.truncated_tail);
}

TEST_CASE("text report: the recovered line says what a killed process's tail file added",
          "[text]") {
  auto with_recovered = [](uint64_t events, uint64_t writer_bytes) {
    Builder b;
    b.Stack(1, {0x1000, 0x1100});
    b.Alloc(kSecond / 10, 0x100000, 1000, 1);
    b.Snapshot(kSecond / 5, 100000);
    format::RecoveredRecord r{};
    r.header = format::MakeHeader(format::RecordType::kRecovered, sizeof(r));
    r.events = events;
    r.writer_bytes = writer_bytes;
    b.Raw(&r, sizeof(r));
    auto l = Load(b.Write());
    CHECK(l->model.ending == report::Ending::kCutShort);
    CHECK(l->model.recovered.merged);
    std::ostringstream text;
    report::RenderText(l->report, text, {false});
    return text.str();
  };
  std::string some = with_recovered(5, 64);
  CHECK(some.find("recovered   5 heap events and 64 B of records from the tail file") !=
        std::string::npos);
  // The tail held nothing the recording lacked: the recording is whole up to the kill.
  std::string none = with_recovered(0, 0);
  CHECK(none.find("recovered   nothing: the tail file, read after the kill, held no record the "
                  "recording lacked (it is whole up to the kill)") != std::string::npos);
}

TEST_CASE("text report: colour only when asked for", "[text]") {
  Builder b;
  GrowthRun(b);
  auto l = Load(b.Write());
  std::ostringstream plain, coloured;
  report::RenderText(l->report, plain, {false});
  report::RenderText(l->report, coloured, {true});
  CHECK(plain.str().find('\033') == std::string::npos);
  CHECK(coloured.str().find("\033[1m") != std::string::npos);
  CHECK(plain.str().find("growing +") != std::string::npos);
  CHECK(plain.str().find("Live since the start, not growing") != std::string::npos);
  std::istringstream lines(plain.str());
  for (std::string line; std::getline(lines, line);) {
    INFO(line);
    CHECK(line.size() <= 100);
  }
}

}  // namespace
}  // namespace allocwatch::unit_test
