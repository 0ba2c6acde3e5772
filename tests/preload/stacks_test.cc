// tests/preload/stacks_test.cc: stacks taken from the call-site cache (preload/hooks/
// call_site_cache.h) against stacks unwound for every allocation (ALLOCWATCH_CALL_SITE_CACHE=0),
// on programs/call_paths.c: the same call sites reached by other callers at the same depth,
// recursion, alloca, a signal handler on an alternate stack, threads.
#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "preload_support.h"

namespace allocwatch::preload_test {
namespace {

// Per symbolized stack (every frame's function and line), the exact figures of one recording.
std::map<std::string, report::SiteFigures> FiguresByStack(bool cache, std::string* out) {
  TempDir dir;
  const std::string out_dir = dir.Sub("rec");
  RunOptions options = Exact(out_dir);
  options.extra_env.push_back(cache ? "ALLOCWATCH_CALL_SITE_CACHE=1"
                                    : "ALLOCWATCH_CALL_SITE_CACHE=0");
  RunResult run = Run({PROGRAM_CALL_PATHS}, options);
  INFO(run.Describe());
  REQUIRE(run.ExitedWith(0));
  *out = run.out;
  std::vector<std::string> files = Recordings(out_dir);
  REQUIRE(files.size() == 1);
  report::ProcessModel model = report::LoadProcess(files[0]);
  REQUIRE(model.warnings.empty());
  REQUIRE(model.lost_events == 0);
  Sites sites(model);
  std::map<std::string, report::SiteFigures> by_stack;
  for (const auto& [id, fig] : model.per_stack) {
    std::ostringstream key;
    for (const report::DisplayFrame& f : sites.Frames(id)) {
      key << (f.function.empty() ? "?" : f.function) << ':' << f.line << ' ';
    }
    by_stack[key.str()].Add(fig);  // the same path may have two ids (a module change)
  }
  return by_stack;
}

TEST_CASE("stacks from the call-site cache are the stacks an unwind gives", "[stacks]") {
  std::string out_cached, out_unwound;
  std::map<std::string, report::SiteFigures> cached = FiguresByStack(true, &out_cached);
  std::map<std::string, report::SiteFigures> unwound = FiguresByStack(false, &out_unwound);
  CHECK(out_cached == "call_paths: done\n");
  CHECK(out_unwound == out_cached);
  // Recursion alone reaches Middle at 24 depths, each its own stack.
  int recursive = 0;
  for (const auto& [stack, fig] : unwound) recursive += stack.find("Recurse") != std::string::npos;
  CHECK(recursive >= 24);
  CHECK(cached.size() == unwound.size());
  for (const auto& [stack, fig] : unwound) {
    INFO("stack: " << stack);
    auto it = cached.find(stack);
    REQUIRE(it != cached.end());
    CHECK(it->second.alloc_count == fig.alloc_count);
    CHECK(it->second.alloc_bytes == fig.alloc_bytes);
    CHECK(it->second.live_count == fig.live_count);
    CHECK(it->second.live_bytes == fig.live_bytes);
  }
}

}  // namespace
}  // namespace allocwatch::preload_test
