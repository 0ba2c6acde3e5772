// report/analysis/process_memory.cc: see process_memory.h.
#include "report/analysis/process_memory.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "preload/format/record_format.h"
#include "preload/procfs/proc_text.h"
#include "report/analysis/number_format.h"

namespace allocwatch::report {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// glibc's HEAP_MAX_SIZE on 64-bit: each heap of an arena other than the main one is mapped at
// a boundary of it, the part in use read-write and the rest inaccessible.
constexpr uint64_t kArenaHeapSize = preload::ArenaHeapCounter::kHeapSize;
constexpr uint64_t kMaxGuardBytes = 1 * kMiB;  // a thread stack's guard (pthread guardsize)

struct Range {
  uint64_t start = 0, end = 0;
  std::string perms;
  bool anonymous = false;  // no file (inode 0), whatever its [name]
  std::string path;        // file path or [name]
  uint64_t rss = 0;
  bool shared() const { return perms.size() > 3 && perms[3] == 's'; }
  bool inaccessible() const { return perms.compare(0, 3, "---") == 0; }
};

bool ParseHeader(const std::string& line, Range* r) {
  std::istringstream in(line);
  std::string span, offset, dev;
  uint64_t inode = 0;
  if (!(in >> span >> r->perms >> offset >> dev >> inode)) return false;
  size_t dash = span.find('-');
  if (dash == std::string::npos || r->perms.size() != 4) return false;
  try {
    r->start = std::stoull(span.substr(0, dash), nullptr, 16);
    r->end = std::stoull(span.substr(dash + 1), nullptr, 16);
  } catch (const std::exception&) {
    return false;
  }
  std::getline(in >> std::ws, r->path);
  r->anonymous = inode == 0 && (r->path.empty() || r->path[0] == '[');
  return r->end > r->start;
}

std::vector<Range> ReadRanges(const std::string& smaps) {
  std::vector<Range> ranges;
  std::istringstream in(smaps);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Rss:", 0) == 0) {
      if (!ranges.empty()) ranges.back().rss = std::strtoull(line.c_str() + 4, nullptr, 10) * 1024;
      continue;
    }
    size_t colon = line.find(':');
    size_t space = line.find(' ');
    if (colon != std::string::npos && (space == std::string::npos || colon < space)) continue;
    Range r;
    if (ParseHeader(line, &r)) ranges.push_back(std::move(r));
  }
  return ranges;
}

// Shared memory the kernel counts as RssShmem: shared anonymous mappings (shown as /dev/zero),
// System V segments, memfd and POSIX shared memory.
bool SharedMemoryPath(const std::string& path) {
  for (const char* prefix : {"/dev/zero", "/SYSV", "/memfd:", "/dev/shm/"}) {
    if (path.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

uint64_t StatusBytes(const std::string& status, const char* key) {
  uint64_t kb = preload::FindKeyValue(status.c_str(), key);
  return kb == format::kHeadroomUnknown ? 0 : kb * 1024;
}

std::string B(uint64_t bytes) { return FormatBytes(static_cast<double>(bytes)); }

}  // namespace

std::string OwnHeapName(const std::string& path) {
  struct Known {
    const char* part;
    const char* name;
  };
  static const Known kKnown[] = {
      {"libjemalloc", "jemalloc"},
      {"libtcmalloc", "tcmalloc"},
      {"libmimalloc", "mimalloc"},
      {"libhoard", "Hoard"},
      {"libjvm.so", "the JVM (its Java heap and metaspace)"},
      {"libnode.so", "Node.js (V8's heap)"},
      {"libv8", "V8 (its own heap)"},
      {"/chrome", "Chromium (PartitionAlloc and V8's heap)"},
      {"/chromium", "Chromium (PartitionAlloc and V8's heap)"},
      {"libpython3", "CPython (pymalloc's arenas)"},
      {"/python3", "CPython (pymalloc's arenas)"},
  };
  for (const Known& k : kKnown) {
    if (path.find(k.part) != std::string::npos) return k.name;
  }
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, "/node") == 0) {
    return "Node.js (V8's heap)";
  }
  return "";
}

ProcessMemory ReadProcessMemory(const std::string& smaps, const std::string& status) {
  ProcessMemory m;
  m.rss_anon = StatusBytes(status, "RssAnon");
  m.rss_file = StatusBytes(status, "RssFile");
  m.rss_shmem = StatusBytes(status, "RssShmem");
  m.swap = StatusBytes(status, "VmSwap");
  uint64_t threads = preload::FindKeyValue(status.c_str(), "Threads");
  m.threads = threads == format::kHeadroomUnknown ? 0 : static_cast<uint32_t>(threads);
  std::vector<Range> ranges = ReadRanges(smaps);
  m.mappings = ranges.size();
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    if (r.shared() && (r.anonymous || SharedMemoryPath(r.path))) {
      m.shared_rss += r.rss;
      continue;
    }
    if (!r.anonymous) {
      m.file_rss += r.rss;
      std::string name = OwnHeapName(r.path);
      if (!name.empty() &&
          std::find(m.own_heaps.begin(), m.own_heaps.end(), name) == m.own_heaps.end()) {
        m.own_heaps.push_back(name);
      }
      continue;
    }
    if (r.inaccessible()) {
      m.reserved_bytes += r.end - r.start;
      continue;
    }
    if (r.path == "[heap]") {
      m.main_heap_rss += r.rss;
      continue;
    }
    if (r.path == "[stack]") {
      m.stack_rss += r.rss;
      continue;
    }
    const Range* next = i + 1 < ranges.size() ? &ranges[i + 1] : nullptr;
    const Range* prev = i > 0 ? &ranges[i - 1] : nullptr;
    const bool arena_heap = r.start % kArenaHeapSize == 0 && r.end - r.start <= kArenaHeapSize &&
                            (r.end - r.start == kArenaHeapSize ||
                             (next != nullptr && next->anonymous && next->inaccessible() &&
                              next->start == r.end && next->end == r.start + kArenaHeapSize));
    if (arena_heap && r.path.empty()) {
      m.arena_rss += r.rss;
      ++m.arena_heaps;
      continue;
    }
    const bool thread_stack = prev != nullptr && prev->anonymous && prev->inaccessible() &&
                              prev->end == r.start && prev->end - prev->start <= kMaxGuardBytes &&
                              r.path.empty();
    if (thread_stack) {
      m.stack_rss += r.rss;
      ++m.thread_stacks;
      continue;
    }
    m.other_anon_rss += r.rss;
  }
  return m;
}

std::vector<ProcessMemoryFinding> ProcessMemoryFindings(const ProcessMemory& m) {
  std::vector<ProcessMemoryFinding> out;
  const uint64_t heap = m.main_heap_rss + m.arena_rss;
  if (m.arena_heaps > 0 && heap >= 64 * kMiB) {
    out.push_back(
        {"glibc's heap holds " + B(heap) + " resident in " + std::to_string(m.arena_heaps + 1) +
             " arenas (" + std::to_string(m.threads) +
             " threads): how much of it is free inside the arenas (fragmentation) cannot be "
             "seen from outside; `allocwatch run` measures it at every snapshot",
         "MALLOC_ARENA_MAX=2 limits the arenas free memory can be stranded in; malloc_trim(0) "
         "after a burst of frees returns it"});
  }
  if (!m.own_heaps.empty() && m.other_anon_rss >= 64 * kMiB && m.other_anon_rss > heap) {
    std::string names;
    for (const std::string& n : m.own_heaps) names += (names.empty() ? "" : ", ") + n;
    out.push_back({"most anonymous memory (" + B(m.other_anon_rss) +
                       ") is outside glibc's heap, in mappings of a runtime or allocator with a "
                       "heap of its own: " +
                       names,
                   "use its own profiler (jemalloc's prof, -XX:NativeMemoryTracking=summary "
                   "for the JVM, V8's heap snapshots, tracemalloc for Python)"});
  }
  return out;
}

}  // namespace allocwatch::report
