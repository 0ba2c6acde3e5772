// report/render/text_format.cc: see text_format.h.
#include "report/render/text_format.h"

#include <algorithm>

namespace allocwatch::report {
namespace {

// Length of the valid UTF-8 sequence (2 to 4 bytes) starting at s[i], or 0.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
      (c == 0xF4 && c1 > 0x8F)) {
    return 0;  // overlong, surrogate or beyond U+10FFFF
  }
  return n;
}

}  // namespace

std::string Clip(const std::string& s, size_t width) {
  return s.size() <= width ? s : s.substr(0, width - 3) + "...";
}

std::string Escape(const std::string& s, bool* escaped) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  bool any = false;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '\\') out += '\\';
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      if (n > 0) {
        out.append(s, i, n);
        i += n;
        continue;
      }
    }
    any = true;
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    ++i;
  }
  if (escaped != nullptr) *escaped = any;
  return out;
}

std::string Quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    bool escaped = false;
    std::string e = Escape(a, &escaped);
    if (escaped) {
      out += "$'";
      for (char c : e) {
        if (c == '\'') out += '\\';
        out += c;
      }
      out += "'";
      continue;
    }
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += "'";
      for (char c : a) {
        if (c == '\'') {
          out.append("'\\''");
        } else {
          out += c;
        }
      }
      out += "'";
    }
  }
  return out;
}

void StackLines(const std::vector<DisplayFrame>& frames, size_t first, size_t callers,
                std::ostream& out) {
  if (frames.empty()) {
    out << "        (no stack)\n";
    return;
  }
  size_t last = std::min(frames.size(), first + 1 + callers);
  for (size_t i = first; i < last; ++i) {
    out << (i == first ? "        at " : "      from ")
        << Clip(DescribeFrame(frames[i]), kWidth - 11) << "\n";
  }
  if (last < frames.size()) out << "        ... " << frames.size() - last << " more frames\n";
}

void Wrapped(const std::string& label, const std::string& text, std::ostream& out) {
  size_t pos = text.find_first_not_of(' ');
  if (pos == std::string::npos) pos = text.size();
  const std::string first = label + text.substr(0, pos);  // leading spaces stay as indentation
  const size_t indent = first.size();
  std::string line = first;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(pos, end - pos);
    if (line.size() > indent && line.size() + 1 + word.size() > kWidth) {
      out << line << "\n";
      line = std::string(indent, ' ');
    } else if (line.size() > indent) {
      line += ' ';
    }
    line += word;
    pos = end + 1;
  }
  out << line << "\n";
}

std::string Estimate(bool exact) { return exact ? "" : "~"; }

}  // namespace allocwatch::report
