// report/render/html/html_assets.h: the HTML report's assets, compiled into allocwatch.
//
// Defined in a source generated at build time (report/render/html/CMakeLists.txt) from the files in
// report/render/html/ and the charting libraries fetched by npm ci (versions pinned with their
// integrity hashes in report/render/html/package-lock.json). Constant data, thread-safe.
#pragma once

#include <string_view>

namespace allocwatch::report::html_assets {

extern const std::string_view kTemplate;         // template.html, with @@NAME@@ placeholders
extern const std::string_view kAppCss;           // app.css
extern const std::string_view kUtilJs;           // util.js: helpers of the two scripts below
extern const std::string_view kChartsJs;         // charts.js: the charts
extern const std::string_view kAppJs;            // app.js: draws the report from the embedded JSON
extern const std::string_view kEchartsJs;        // Apache ECharts, dist/echarts.min.js
extern const std::string_view kD3Js;             // d3, dist/d3.min.js
extern const std::string_view kFlameGraphJs;     // d3-flame-graph, dist/d3-flamegraph.umd.min.js
extern const std::string_view kLibraryVersions;  // "name version" lines, from package.json

// Licence notices of the embedded libraries (and of what they bundle).
extern const std::string_view kEchartsLicense;
extern const std::string_view kEchartsNotice;
extern const std::string_view kEchartsD3License;  // d3 code inside ECharts
extern const std::string_view kZrenderLicense;    // bundled in echarts.min.js
extern const std::string_view kTslibLicense;      // bundled in echarts.min.js
extern const std::string_view kD3License;
extern const std::string_view kD3EaseLicense;            // bundled in d3.min.js
extern const std::string_view kDelaunatorLicense;        // bundled in d3.min.js
extern const std::string_view kRobustPredicatesLicense;  // bundled in d3.min.js
extern const std::string_view kFlameGraphLicense;

}  // namespace allocwatch::report::html_assets
