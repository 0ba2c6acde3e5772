// report/analysis/suppressions.cc: see suppressions.h.
#include "report/analysis/suppressions.h"

#include <fstream>
#include <stdexcept>

namespace allocwatch::report {
namespace {

// '*'-glob over the whole of text[ti..] (iterative, with backtracking to the last star).
bool Glob(const std::string& p, size_t pi, const std::string& t, size_t ti, bool anchored_end) {
  size_t star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi, ++ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
    if (!anchored_end && pi == p.size()) return true;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

bool PatternMatches(const std::string& pattern, const std::string& text) {
  if (pattern.empty() || text.empty()) return false;
  std::string p = pattern;
  bool start = p.front() == '^';
  if (start) p.erase(0, 1);
  bool end = !p.empty() && p.back() == '$';
  if (end) p.pop_back();
  if (p.empty()) return false;
  if (start) return Glob(p, 0, text, 0, end);
  for (size_t i = 0; i < text.size(); ++i) {
    if (Glob(p, 0, text, i, end)) return true;
  }
  return false;
}

Suppressions Suppressions::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the suppressions file");
  Suppressions out;
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon != std::string::npos && line.compare(0, colon, "leak") == 0) {
      line = Trim(line.substr(colon + 1));
    } else if (colon != std::string::npos && colon > 0 && line.compare(colon, 2, "::") != 0 &&
               line.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == colon) {
      continue;  // another sanitizer's kind ("race:", "signal:"...)
    }
    if (!line.empty()) out.Add(line);
  }
  if (in.bad()) throw std::runtime_error(path + ": cannot read the suppressions file");
  return out;
}

void Suppressions::Add(const std::string& pattern) { patterns_.push_back(pattern); }

const std::string* Suppressions::Match(const std::vector<DisplayFrame>& frames) const {
  for (const std::string& p : patterns_) {
    for (const DisplayFrame& f : frames) {
      if (PatternMatches(p, f.function) || PatternMatches(p, f.file) ||
          PatternMatches(p, f.module)) {
        return &p;
      }
    }
  }
  return nullptr;
}

}  // namespace allocwatch::report
