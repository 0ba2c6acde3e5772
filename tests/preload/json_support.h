// tests/preload/json_support.h: the allocwatch command's JSON output in the preload tests.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "preload_support.h"

namespace allocwatch::preload_test {

// Runs `argv` (an allocwatch command writing JSON to stdout), requires status 0, parses it.
inline nlohmann::json RunJson(const std::vector<std::string>& argv) {
  RunResult r = Run(argv);
  INFO(r.Describe());
  REQUIRE(r.ExitedWith(0));
  return nlohmann::json::parse(r.out);
}

// The site of `sites` (a JSON array of sites) named by a frame of `function`, or nullptr.
inline const nlohmann::json* SiteIn(const nlohmann::json& sites, const std::string& function) {
  for (const nlohmann::json& s : sites) {
    size_t index = s.at("site_frame").get<size_t>();
    const nlohmann::json& frames = s.at("frames");
    if (index < frames.size() && frames[index].value("function", "") == function) return &s;
  }
  return nullptr;
}

}  // namespace allocwatch::preload_test
