// report/analysis/suppressions.h: known allocations left out of a report, as sanitizers'
// suppression files do.
//
// Offline. File format: one pattern a line; blank lines and lines starting with '#' are
// ignored; an optional "leak:" prefix is accepted (so LeakSanitizer files can be reused, other
// "kind:" lines are ignored). A pattern matches a stack when it matches the function name, the
// source file path or the module path of any of its frames. '*' matches any run of characters;
// a pattern without '*' matches when it occurs anywhere in the name (as LeakSanitizer does);
// '^' at the start or '$' at the end anchor it.
#pragma once

#include <string>
#include <vector>

#include "report/symbols/stack_symbolizer.h"

namespace allocwatch::report {

class Suppressions {
 public:
  Suppressions() = default;
  // Throws std::runtime_error (with the file name and line) when the file cannot be read.
  static Suppressions Load(const std::string& path);
  void Add(const std::string& pattern);

  bool empty() const { return patterns_.empty(); }
  const std::vector<std::string>& patterns() const { return patterns_; }
  // The first pattern matching a frame of `frames`, or nullptr.
  const std::string* Match(const std::vector<DisplayFrame>& frames) const;

 private:
  std::vector<std::string> patterns_;
};

// Glob-like match of `pattern` (as described above) against `text`.
bool PatternMatches(const std::string& pattern, const std::string& text);

}  // namespace allocwatch::report
