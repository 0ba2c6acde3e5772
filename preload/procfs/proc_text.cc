// preload/procfs/proc_text.cc: see proc_text.h.
#include "preload/procfs/proc_text.h"

#include <cstring>

#include "preload/base/raw_io.h"
#include "preload/format/record_format.h"

namespace allocwatch::preload {
namespace {

constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decimal at p (after spaces); kUnknown when there is none or it overflows.
uint64_t Number(const char* p, const char** end = nullptr) {
  while (IsSpace(*p)) ++p;
  if (!IsDigit(*p)) return kUnknown;
  uint64_t v = 0;
  while (IsDigit(*p)) {
    uint64_t d = static_cast<uint64_t>(*p++ - '0');
    if (v > (kUnlimited - 1 - d) / 10) return kUnknown;
    v = v * 10 + d;
  }
  if (end != nullptr) *end = p;
  return v;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint64_t Hex(const char*& p) {
  uint64_t v = 0;
  for (int d; (d = HexDigit(*p)) >= 0; ++p) v = (v << 4) | static_cast<uint64_t>(d);
  return v;
}

// Copies a /proc/PID/maps line (`size` < kLineBytes) into `copy` and reads its "start-end";
// leaves *p after the end address. False when the line does not start so.
bool ParseMapsRange(const char* line, size_t size, char* copy, const char** p, uint64_t* start,
                    uint64_t* end) {
  std::memcpy(copy, line, size);
  copy[size] = '\0';
  *p = copy;
  *start = Hex(*p);
  if (**p != '-') return false;
  ++*p;
  *end = Hex(*p);
  return true;
}

// Copies a space-separated field of mountinfo, decoding \ooo escapes.
bool CopyField(const char* begin, const char* end, char* out, size_t cap) {
  size_t n = 0;
  for (const char* p = begin; p < end; ++p) {
    char c = *p;
    if (c == '\\' && end - p >= 4 && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
        p[3] >= '0' && p[3] <= '7') {
      c = static_cast<char>((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    }
    if (n + 1 >= cap) return false;
    out[n++] = c;
  }
  out[n] = '\0';
  return true;
}

// Does the comma-separated list [begin, end) contain `word`?
bool ListHas(const char* begin, const char* end, const char* word) {
  size_t w = std::strlen(word);
  const char* p = begin;
  while (p < end) {
    const char* comma = p;
    while (comma < end && *comma != ',') ++comma;
    if (static_cast<size_t>(comma - p) == w && std::memcmp(p, word, w) == 0) return true;
    p = comma + 1;
  }
  return false;
}

void CopyPath(const char* begin, const char* end, char* out) {
  static constexpr char kDeleted[] = " (deleted)";
  constexpr size_t kDeletedLen = sizeof(kDeleted) - 1;
  if (static_cast<size_t>(end - begin) >= kDeletedLen &&
      std::memcmp(end - kDeletedLen, kDeleted, kDeletedLen) == 0) {
    end -= kDeletedLen;
  }
  size_t n = static_cast<size_t>(end - begin);
  if (n >= kCgroupPathMax) n = kCgroupPathMax - 1;
  std::memcpy(out, begin, n);
  out[n] = '\0';
}

}  // namespace

uint64_t FindKeyValue(const char* text, const char* key) {
  if (text == nullptr) return kUnknown;
  size_t k = std::strlen(key);
  for (const char* line = text; *line != '\0';) {
    if (std::strncmp(line, key, k) == 0 && (line[k] == ':' || IsSpace(line[k]))) {
      const char* p = line + k;
      if (*p == ':') ++p;
      return Number(p);
    }
    const char* nl = std::strchr(line, '\n');
    if (nl == nullptr) break;
    line = nl + 1;
  }
  return kUnknown;
}

uint64_t ParseCgroupValue(const char* text) {
  if (text == nullptr) return kUnknown;
  const char* p = text;
  while (IsSpace(*p)) ++p;
  if (std::strncmp(p, "max", 3) == 0 && (p[3] == '\0' || p[3] == '\n')) return kUnlimited;
  const char* end = nullptr;
  uint64_t v = Number(p, &end);
  if (v == kUnknown) {
    // A value too large for the parser is a v1 "unlimited" written without its sentinel.
    return IsDigit(*p) ? kUnlimited : kUnknown;
  }
  if (*end != '\0' && *end != '\n') return kUnknown;
  return v >= (uint64_t{1} << 62) ? kUnlimited : v;
}

PressureFigures ParsePressure(const char* text) {
  PressureFigures f{kUnknown, kUnknown, kUnknown};
  if (text == nullptr) return f;
  for (const char* line = text; *line != '\0';) {
    bool some = std::strncmp(line, "some ", 5) == 0;
    bool full = std::strncmp(line, "full ", 5) == 0;
    const char* nl = std::strchr(line, '\n');
    const char* end = nl != nullptr ? nl : line + std::strlen(line);
    if (some || full) {
      for (const char* p = line; p < end; ++p) {
        if (std::strncmp(p, "avg10=", 6) == 0) {
          const char* q = p + 6;
          uint64_t whole = Number(q, &q);
          uint64_t frac = 0;
          if (whole != kUnknown && *q == '.' && IsDigit(q[1])) {
            frac = static_cast<uint64_t>(q[1] - '0') * 10 + (IsDigit(q[2]) ? q[2] - '0' : 0);
          }
          uint64_t v = whole == kUnknown ? kUnknown : whole * 100 + frac;
          (some ? f.some_avg10_x100 : f.full_avg10_x100) = v;
        } else if (full && std::strncmp(p, "total=", 6) == 0) {
          f.full_total_us = Number(p + 6);
        }
      }
    }
    if (nl == nullptr) break;
    line = nl + 1;
  }
  return f;
}

void ParseProcCgroup(const char* text, ProcCgroupPaths* out) {
  out->has_v1_memory = false;
  out->has_v2 = false;
  out->v1_memory[0] = out->v2[0] = '\0';
  for (const char* line = text; line != nullptr && *line != '\0';) {
    const char* nl = std::strchr(line, '\n');
    const char* end = nl != nullptr ? nl : line + std::strlen(line);
    const char* c1 = static_cast<const char*>(std::memchr(line, ':', end - line));
    const char* c2 =
        c1 != nullptr ? static_cast<const char*>(std::memchr(c1 + 1, ':', end - c1 - 1)) : nullptr;
    if (c2 != nullptr) {
      bool id_zero = c1 - line == 1 && line[0] == '0';
      if (id_zero && c2 == c1 + 1) {
        out->has_v2 = true;
        CopyPath(c2 + 1, end, out->v2);
      } else if (ListHas(c1 + 1, c2, "memory")) {
        out->has_v1_memory = true;
        CopyPath(c2 + 1, end, out->v1_memory);
      }
    }
    if (nl == nullptr) break;
    line = nl + 1;
  }
}

bool ParseCgroupMountLine(const char* line, size_t size, CgroupMount* out) {
  // id parent major:minor root mount-point options [optional fields...] - fstype source super
  const char* end = line + size;
  const char* fields[5];
  const char* field_ends[5];
  const char* p = line;
  for (int i = 0; i < 5; ++i) {
    while (p < end && *p == ' ') ++p;
    fields[i] = p;
    while (p < end && *p != ' ') ++p;
    field_ends[i] = p;
    if (fields[i] == field_ends[i]) return false;
  }
  const char* dash = nullptr;
  for (const char* q = p; q + 2 < end; ++q) {
    if (q[0] == ' ' && q[1] == '-' && q[2] == ' ') {
      dash = q + 3;
      break;
    }
  }
  if (dash == nullptr) return false;
  const char* type_end = dash;
  while (type_end < end && *type_end != ' ') ++type_end;
  size_t type_len = static_cast<size_t>(type_end - dash);
  bool v2 = type_len == 7 && std::memcmp(dash, "cgroup2", 7) == 0;
  bool v1 = type_len == 6 && std::memcmp(dash, "cgroup", 6) == 0;
  if (!v1 && !v2) return false;
  // Skip the source field; the super options follow.
  const char* source = type_end;
  while (source < end && *source == ' ') ++source;
  const char* super = source;
  while (super < end && *super != ' ') ++super;
  while (super < end && *super == ' ') ++super;
  out->v2 = v2;
  out->v1_memory = v1 && ListHas(super, end, "memory");
  return CopyField(fields[3], field_ends[3], out->root, sizeof(out->root)) &&
         CopyField(fields[4], field_ends[4], out->mount_point, sizeof(out->mount_point));
}

void MapsScanner::Feed(const char* data, size_t size) {
  lines_in_.Feed(data, size, [this](const char* l, size_t n, bool cut) { Line(l, n, cut); });
}

void MapsScanner::Finish() {
  lines_in_.Finish([this](const char* l, size_t n, bool cut) { Line(l, n, cut); });
}

void MapsScanner::Line(const char* line, size_t size, bool cut) {
  ++lines_;
  auto ends_with = [&](const char* s) {
    size_t n = std::strlen(s);
    return !cut && size >= n && std::memcmp(line + size - n, s, n) == 0;
  };
  if (ends_with("[vsyscall]")) {
    vsyscall_ = true;
    return;
  }
  char copy[kLineBytes];
  const char* p = nullptr;
  uint64_t start = 0, end = 0;
  if (!ParseMapsRange(line, size, copy, &p, &start, &end)) return;
  if (start >= previous_end_) {
    uint64_t gap = start - previous_end_;
    if (ends_with("[stack]")) gap = gap > kStackGuardGap ? gap - kStackGuardGap : 0;
    if (gap > largest_gap_) largest_gap_ = gap;
  }
  if (end > previous_end_) previous_end_ = end;
}

void ArenaHeapCounter::Feed(const char* data, size_t size) {
  lines_in_.Feed(data, size, [this](const char* l, size_t n, bool cut) { Line(l, n, cut); });
}

void ArenaHeapCounter::Finish() {
  lines_in_.Finish([this](const char* l, size_t n, bool cut) { Line(l, n, cut); });
  open_ = false;
}

void ArenaHeapCounter::Line(const char* line, size_t size, bool cut) {
  const bool was_open = open_;
  open_ = false;
  if (cut) return;
  // "start-end perms offset dev inode [path]": anonymous when the inode is 0 and no path.
  char copy[MapsScanner::kLineBytes];
  const char* p = nullptr;
  uint64_t start = 0, end = 0;
  if (!ParseMapsRange(line, size, copy, &p, &start, &end)) return;
  if (*p != ' ' || end <= start) return;
  ++p;
  char perms[5] = {};
  for (int i = 0; i < 4 && p[i] != '\0'; ++i) perms[i] = p[i];
  p += 4;
  int fields = 0;  // offset, device, inode
  uint64_t inode = 1;
  while (fields < 3) {
    while (*p == ' ') ++p;
    if (*p == '\0') return;
    if (fields == 2) {
      inode = ParseDecimal(p);
    } else {
      while (*p != ' ' && *p != '\0') ++p;
    }
    ++fields;
  }
  while (*p == ' ') ++p;
  const bool anonymous = inode == 0 && *p == '\0';
  if (!anonymous) return;
  if (was_open && start == open_end_ && std::memcmp(perms, "---p", 4) == 0 &&
      end == open_start_ + kHeapSize) {
    ++heaps_;
    return;
  }
  if (std::memcmp(perms, "rw-p", 4) != 0 || start % kHeapSize != 0) return;
  if (end == start + kHeapSize) {
    ++heaps_;
  } else if (end < start + kHeapSize) {
    open_ = true;
    open_start_ = start;
    open_end_ = end;
  }
}

void MappedPathFinder::Start(uint64_t address) {
  address_ = address;
  lines_in_ = {};
  path_[0] = '\0';
}

void MappedPathFinder::Feed(const char* data, size_t size) {
  lines_in_.Feed(data, size, [this](const char* l, size_t n, bool cut) {
    if (!cut) Line(l, n);
  });
}

void MappedPathFinder::Finish() {
  lines_in_.Finish([this](const char* l, size_t n, bool cut) {
    if (!cut) Line(l, n);
  });
}

void MappedPathFinder::Line(const char* line, size_t size) {
  // start-end perms offset dev inode   path
  if (path_[0] != '\0') return;  // the first match wins
  const char* end = line + size;
  char head[40];
  size_t head_size = size < sizeof(head) - 1 ? size : sizeof(head) - 1;
  std::memcpy(head, line, head_size);
  head[head_size] = '\0';
  const char* p = head;
  uint64_t start = Hex(p);
  if (*p != '-') return;
  ++p;
  uint64_t stop = Hex(p);
  if (address_ < start || address_ >= stop) return;
  const char* q = line;
  for (int field = 0; field < 5; ++field) {
    while (q < end && *q != ' ') ++q;
    while (q < end && *q == ' ') ++q;
  }
  static constexpr char kDeleted[] = " (deleted)";
  constexpr size_t kDeletedLen = sizeof(kDeleted) - 1;
  if (static_cast<size_t>(end - q) >= kDeletedLen &&
      std::memcmp(end - kDeletedLen, kDeleted, kDeletedLen) == 0) {
    end -= kDeletedLen;
  }
  if (q >= end || *q != '/') return;
  size_t n = 0;
  for (; q < end && n + 1 < sizeof(path_); ++q) {
    if (end - q >= 4 && std::memcmp(q, "\\012", 4) == 0) {
      path_[n++] = '\n';
      q += 3;
    } else {
      path_[n++] = *q;
    }
  }
  if (q < end) n = 0;  // does not fit: no path rather than a cut one
  path_[n] = '\0';
}

bool CopyString(char* dst, size_t cap, const char* src) {
  size_t n = std::strlen(src);
  if (n + 1 > cap) {
    if (cap > 0) dst[0] = '\0';
    return false;
  }
  std::memcpy(dst, src, n + 1);
  return true;
}

}  // namespace allocwatch::preload
