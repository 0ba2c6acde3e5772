// tests/unit/html_render_test.cc: the HTML page built around a hand-made model whose strings
// try to break out of the page (markup, comment openers, bytes that are not UTF-8).
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "report/analysis/analysis.h"
#include "report/render/render.h"

namespace report = allocwatch::report;
using nlohmann::json;

namespace {

const std::string kHostileExe = "/opt/a</script><script>alert(1)</script><!--<b>&amp;\"'";
const std::string kDataOpen = "<script type=\"application/json\" id=\"allocwatch-data\">";

report::ProcessModel HandMadeModel(const std::string& exe) {
  report::ProcessModel m;
  m.path = "/tmp/rec/x.1.awtrace";
  m.pid = 42;
  m.exe = exe;
  m.argv = {exe, "--name=</SCRIPT >", "<!--"};
  m.ending = report::Ending::kExit;
  m.duration_ns = 2'000'000'000;
  // Stack 1 leaks 300 bytes; stack 2 held 5000 at the peak and nothing at the end; stack 3
  // holds nothing at either moment.
  m.stacks[report::StackId{1}] = {{0x1000, -1, 0}, {0x2000, -1, 0}};
  m.stacks[report::StackId{2}] = {{0x3000, -1, 0}, {0x2000, -1, 0}};
  m.stacks[report::StackId{3}] = {{0x4000, -1, 0}};
  m.per_stack[report::StackId{1}] = {.alloc_count = 3,
                                     .alloc_bytes = 300,
                                     .live_count = 3,
                                     .live_bytes = 300,
                                     .samples = 3,
                                     .live_samples = 3};
  m.per_stack[report::StackId{2}] = {.alloc_count = 1, .alloc_bytes = 5000, .samples = 1};
  m.per_stack[report::StackId{3}] = {.alloc_count = 1, .alloc_bytes = 10, .samples = 1};
  m.at_peak[report::StackId{1}] = {.live_count = 1, .live_bytes = 100};
  m.at_peak[report::StackId{2}] = {.live_count = 1, .live_bytes = 5000};
  m.totals = {.alloc_count = 5, .alloc_bytes = 5310, .live_count = 3, .live_bytes = 300};
  m.peak_live_bytes = 5100;
  m.peak_time_ns = 1'000'000'000;
  m.snapshots.push_back({.time_ns = 500'000'000, .heap_live_bytes = 5100, .rss_bytes = 1 << 20});
  return m;
}

struct Rendered {
  std::string page;
  json document;  // RenderHtmlDocument, for comparison
};

Rendered Render(const report::ProcessModel& model) {
  report::StackSymbolizer symbols({}, /*enabled=*/false);
  std::vector<report::ProcessReport> reports = {report::BuildReport(model, symbols, {})};
  std::ostringstream out;
  report::RenderHtml(reports, symbols, out);
  return {out.str(), report::RenderHtmlDocument(reports, symbols)};
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The text of the data block: from its opening tag to the first "</script" after it.
std::string DataBlock(const std::string& page) {
  size_t start = page.find(kDataOpen);
  REQUIRE(start != std::string::npos);
  start += kDataOpen.size();
  size_t end = page.find("</script", start);
  REQUIRE(end != std::string::npos);
  return page.substr(start, end - start);
}

}  // namespace

TEST_CASE("the HTML page keeps recorded strings inside its data block", "[html]") {
  Rendered r = Render(HandMadeModel(kHostileExe));
  const std::string data = DataBlock(r.page);
  INFO(data.substr(0, 400));
  // No character in the block can close it or open markup or a comment.
  CHECK(data.find_first_of("<>&") == std::string::npos);
  // The block is the document, exactly.
  json parsed = json::parse(data);
  CHECK(parsed == r.document);
  CHECK(parsed["processes"][0]["process"]["exe"] == kHostileExe);
  CHECK(parsed["processes"][0]["process"]["argv"][1] == "--name=</SCRIPT >");
  // One data block, six script elements (three libraries, three of the app), each closed once; no
  // comment opener anywhere (the libraries and the app are checked for it when embedded).
  CHECK(Count(r.page, kDataOpen) == 1);
  CHECK(Count(r.page, "<script>") == 6);
  CHECK(Count(r.page, "</script>") == 7);
  CHECK(r.page.find("<!--") == std::string::npos);
  CHECK(r.page.find("<script>alert(1)") == std::string::npos);  // only its escaped form is there
  CHECK(r.page.find("\\u003cscript\\u003ealert(1)") != std::string::npos);
}

TEST_CASE("the HTML document has a stack profile for the flame graphs", "[html]") {
  Rendered r = Render(HandMadeModel("/bin/plain"));
  const json& profile = r.document["processes"][0]["stack_profile"];
  const json& frames = profile["frames"];
  const json& stacks = profile["stacks"];
  // Stacks 1 (live at exit) and 2 (live at the peak); stack 3 holds nothing.
  REQUIRE(stacks.size() == 2);
  CHECK(stacks[0]["stack"] == 1);
  CHECK(stacks[0]["live_bytes"] == 300);
  CHECK(stacks[0]["live_count"] == 3);
  CHECK(stacks[0]["peak_live_bytes"] == 100);
  CHECK(stacks[1]["stack"] == 2);
  CHECK(stacks[1]["live_bytes"] == 0);
  CHECK(stacks[1]["peak_live_bytes"] == 5000);
  // Frames innermost first, shared frames (0x2000) stored once.
  REQUIRE(frames.size() == 3);
  std::vector<uint64_t> addresses;
  for (const json& s : stacks) {
    for (const json& i : s["frames"]) {
      addresses.push_back(frames.at(i.get<size_t>())["address"].get<uint64_t>());
    }
  }
  CHECK(addresses == std::vector<uint64_t>{0x1000, 0x2000, 0x3000, 0x2000});
  CHECK(stacks[0]["frames"][1] == stacks[1]["frames"][1]);
}

TEST_CASE("the HTML page takes names that are not UTF-8", "[html]") {
  Rendered r = Render(HandMadeModel("/opt/caf\xe9\xff/x"));
  json parsed = json::parse(DataBlock(r.page));
  CHECK(parsed["processes"][0]["process"]["exe"] == "/opt/caf\xef\xbf\xbd\xef\xbf\xbd/x");
}
