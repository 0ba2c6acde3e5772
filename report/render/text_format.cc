// report/render/text_format.cc: see text_format.h.
#include "report/render/text_format.h"

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

}  // namespace allocwatch::report
