// report/render/html_render.cc: the self-contained HTML report.
//
// The page is report/render/html/template.html with the JSON report document (RenderJsonDocument
// plus a per-stack profile for the flame graphs) embedded as data, and the script that draws it
// (report/render/html/*.js) with its charting libraries inlined. The recording is untrusted: its
// strings reach the page only inside the JSON data block, where every '<', '>' and '&' is
// written as a \u escape, so no text from it can end the block or form markup; the script puts
// them into the page as text.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "report/render/html/html_assets.h"
#include "report/render/render.h"

namespace allocwatch::report {
namespace {

using nlohmann::json;

constexpr const char* kGenerator = "allocwatch 0.1.0";

json Num(double v) { return static_cast<int64_t>(std::llround(v)); }

// Every stack with memory live at the end or at the peak, its frames as indices into one
// table of distinct frames (innermost first, as in site frames).
json StackProfile(const ProcessReport& report, StackSymbolizer& symbols) {
  const ProcessModel& m = *report.model;
  auto holds = [](const SiteFigures& f) { return f.live_bytes > 0 || f.mapped_live_bytes > 0; };
  std::vector<StackId> ids;
  for (const auto& [id, fig] : m.per_stack) {
    if (holds(fig)) ids.push_back(id);
  }
  for (const auto& [id, fig] : m.at_peak) {
    if (holds(fig)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  json frames = json::array();
  json stacks = json::array();
  absl::flat_hash_map<std::string, size_t> frame_index;
  for (StackId id : ids) {
    json indices = json::array();
    for (const DisplayFrame& f : symbols.Frames(m, id)) {
      // Inlined frames share their address (the function tells them apart); a module loaded
      // later may reuse an address (the module tells them apart).
      std::string key = f.module;
      key.append("\n").append(std::to_string(f.address)).append("\n").append(f.function);
      auto [it, inserted] = frame_index.try_emplace(key, frames.size());
      if (inserted) frames.push_back(FrameJson(f));
      indices.push_back(it->second);
    }
    SiteFigures end, peak;
    if (auto it = m.per_stack.find(id); it != m.per_stack.end()) end = it->second;
    if (auto it = m.at_peak.find(id); it != m.at_peak.end()) peak = it->second;
    stacks.push_back({{"stack", id.value},
                      {"live_bytes", Num(end.live_bytes)},
                      {"live_count", Num(end.live_count)},
                      {"mapped_live_bytes", Num(end.mapped_live_bytes)},
                      {"peak_live_bytes", Num(peak.live_bytes)},
                      {"peak_live_count", Num(peak.live_count)},
                      {"peak_mapped_live_bytes", Num(peak.mapped_live_bytes)},
                      {"frames", std::move(indices)}});
  }
  return {{"frames", std::move(frames)}, {"stacks", std::move(stacks)}};
}

// JSON text safe inside <script type="application/json">: '<', '>' and '&' only occur inside
// JSON strings, where \u003c etc. mean the same characters to JSON.parse.
std::string ScriptSafeJson(const json& doc) {
  std::string text = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    switch (c) {
      case '<':
        out.append("\\u003c");
        break;
      case '>':
        out.append("\\u003e");
        break;
      case '&':
        out.append("\\u0026");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    switch (c) {
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '&':
        out.append("&amp;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string Licences() {
  namespace a = html_assets;
  struct Notice {
    const char* title;
    std::string_view text;
  };
  const Notice notices[] = {
      {"Apache ECharts: LICENSE", a::kEchartsLicense},
      {"Apache ECharts: NOTICE", a::kEchartsNotice},
      {"Apache ECharts: licence of the d3 code it embeds", a::kEchartsD3License},
      {"ZRender (bundled in ECharts): LICENSE", a::kZrenderLicense},
      {"tslib (bundled in ECharts): LICENSE", a::kTslibLicense},
      {"d3: LICENSE", a::kD3License},
      {"d3-ease (bundled in d3): LICENSE", a::kD3EaseLicense},
      {"delaunator (bundled in d3): LICENSE", a::kDelaunatorLicense},
      {"robust-predicates (bundled in d3): LICENSE", a::kRobustPredicatesLicense},
      {"d3-flame-graph: LICENSE", a::kFlameGraphLicense},
  };
  std::string versions(a::kLibraryVersions);  // one "name version" a line
  while (!versions.empty() && versions.back() == '\n') versions.pop_back();
  for (size_t nl; (nl = versions.find('\n')) != std::string::npos;) versions.replace(nl, 1, ", ");
  std::string out = "<p>Versions (npm): ";
  out.append(EscapeHtml(versions)).append("</p>\n");
  for (const Notice& n : notices) {
    out.append("<h4>").append(EscapeHtml(n.title)).append("</h4>\n<pre>");
    out.append(EscapeHtml(n.text)).append("</pre>\n");
  }
  return out;
}

std::string Scripts(std::initializer_list<std::string_view> scripts) {
  std::string out;
  for (std::string_view js : scripts) out.append("<script>\n").append(js).append("\n</script>\n");
  return out;
}

// Writes the template with each @@NAME@@ replaced; unknown names are an internal error.
void FillTemplate(std::string_view page, const absl::flat_hash_map<std::string, std::string>& fill,
                  std::ostream& out) {
  size_t pos = 0;
  while (true) {
    size_t open = page.find("@@", pos);
    if (open == std::string_view::npos) break;
    size_t close = page.find("@@", open + 2);
    if (close == std::string_view::npos) break;
    out << page.substr(pos, open - pos);
    std::string name(page.substr(open + 2, close - open - 2));
    auto it = fill.find(name);
    if (it == fill.end()) throw std::logic_error("HTML template: unknown placeholder " + name);
    out << it->second;
    pos = close + 2;
  }
  out << page.substr(pos);
}

}  // namespace

json RenderHtmlDocument(const std::vector<ProcessReport>& reports, StackSymbolizer& symbols) {
  json doc = RenderJsonDocument(reports);
  json& processes = doc["processes"];
  for (size_t i = 0; i < reports.size(); ++i) {
    processes[i]["stack_profile"] = StackProfile(reports[i], symbols);
  }
  doc["generator"] = kGenerator;
  return doc;
}

void RenderHtml(const std::vector<ProcessReport>& reports, StackSymbolizer& symbols,
                std::ostream& out) {
  absl::flat_hash_map<std::string, std::string> fill;
  fill["GENERATOR"] = EscapeHtml(kGenerator);
  fill["STYLE"] = std::string(html_assets::kAppCss);
  fill["DATA"] = ScriptSafeJson(RenderHtmlDocument(reports, symbols));
  fill["LICENCES"] = Licences();
  fill["LIBRARIES"] =
      Scripts({html_assets::kEchartsJs, html_assets::kD3Js, html_assets::kFlameGraphJs});
  fill["APP"] = Scripts({html_assets::kUtilJs, html_assets::kChartsJs, html_assets::kAppJs});
  FillTemplate(html_assets::kTemplate, fill, out);
}

}  // namespace allocwatch::report
