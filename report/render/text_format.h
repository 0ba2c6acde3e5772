// report/render/text_format.h: text for terminals: ANSI styles, clipping, and escaping of strings
// that come from a recording (untrusted: command lines, paths, symbols).
//
// Offline. Pure functions, thread-safe. The number formats (FormatBytes and the others) are in
// number_format.h.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "report/symbols/stack_symbolizer.h"

namespace allocwatch::report {

// ANSI styles, empty without colour.
struct Paint {
  bool on = false;
  std::string operator()(const std::string& s, const char* code) const {
    if (!on) return s;
    std::string out = "\033[";
    out.append(code).append("m").append(s).append("\033[0m");
    return out;
  }
  std::string Title(const std::string& s) const { return (*this)(s, "1"); }
  std::string Bad(const std::string& s) const { return (*this)(s, "1;31"); }
  std::string Note(const std::string& s) const { return (*this)(s, "33"); }
  std::string Dim(const std::string& s) const { return (*this)(s, "2"); }
};

// `s`, cut to `width` bytes with "..." at the end when longer.
std::string Clip(const std::string& s, size_t width);

// Control characters and bytes that are not UTF-8 as \n, \t, \xNN (so a recorded command line,
// path or thread name can neither break a report line nor send terminal escapes).
// Sets *escaped when anything was replaced.
std::string Escape(const std::string& s, bool* escaped = nullptr);

// The command line as a shell would take it back: plain words, '...' quoting, and $'...' for
// arguments with escaped bytes.
std::string Quote(const std::vector<std::string>& argv);

// The width the text report fits in, and the callers shown under a site's frame.
inline constexpr size_t kWidth = 100;
inline constexpr size_t kCallerLines = 4;

// A stack from frame `first` ("at") and at most `callers` callers ("from"), clipped to kWidth.
void StackLines(const std::vector<DisplayFrame>& frames, size_t first, size_t callers,
                std::ostream& out);

// Writes `label` then `text`, wrapped at word boundaries to kWidth, continuation lines indented
// under the text.
void Wrapped(const std::string& label, const std::string& text, std::ostream& out);

// The mark of an estimate: "~" in sampled mode, nothing in exact mode.
std::string Estimate(bool exact);

}  // namespace allocwatch::report
