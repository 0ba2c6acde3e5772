// report/analysis/cgroup_limit.cc: see cgroup_limit.h.
#include "report/analysis/cgroup_limit.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace allocwatch::report {
namespace {

namespace fs = std::filesystem;

// v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything from 2^60 on is
// taken as unlimited.
constexpr uint64_t kUnlimited = uint64_t{1} << 60;

std::optional<uint64_t> ReadNumber(const fs::path& file) {
  std::ifstream in(file);
  std::string word;
  if (!(in >> word) || word == "max") return std::nullopt;
  try {
    size_t used = 0;
    uint64_t v = std::stoull(word, &used);
    if (used != word.size() || v >= kUnlimited) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

struct Hierarchy {
  fs::path dir;  // the process's cgroup (or the deepest part of it that exists)
  fs::path root;
  const char* limit_file;
  const char* usage_file;
  const char* source;
};

// The process's memory cgroup: v2 ("0::/path") first, else the v1 memory controller.
std::optional<Hierarchy> FindHierarchy(const std::string& proc_root, const std::string& cgroup_root,
                                       uint32_t pid) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/cgroup");
  std::string line, v2_path, v1_path;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2_path = path;
    std::stringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) {
      if (c == "memory") v1_path = path;
    }
  }
  std::error_code ec;
  if (!v1_path.empty() && fs::exists(fs::path(cgroup_root) / "memory", ec)) {
    return Hierarchy{fs::path(cgroup_root) / "memory" / fs::path(v1_path).relative_path(),
                     fs::path(cgroup_root) / "memory", "memory.limit_in_bytes",
                     "memory.usage_in_bytes", "cgroup v1 memory.limit_in_bytes, read now"};
  }
  if (!v2_path.empty() && fs::exists(fs::path(cgroup_root) / "cgroup.controllers", ec)) {
    return Hierarchy{fs::path(cgroup_root) / fs::path(v2_path).relative_path(),
                     fs::path(cgroup_root), "memory.max", "memory.current",
                     "cgroup v2 memory.max, read now"};
  }
  return std::nullopt;
}

}  // namespace

LimitSource LiveCgroupLimit(std::string proc_root, std::string cgroup_root) {
  return [proc_root, cgroup_root](const ProcessModel& model) -> std::optional<MemoryLimit> {
    std::optional<Hierarchy> h = FindHierarchy(proc_root, cgroup_root, model.pid);
    if (!h) return std::nullopt;
    std::error_code ec;
    // Inside a cgroup namespace the recorded path may not exist here: start from what does.
    fs::path dir = h->dir;
    while (dir != h->root && !fs::is_directory(dir, ec)) dir = dir.parent_path();
    std::optional<MemoryLimit> best;
    for (;;) {
      std::optional<uint64_t> limit = ReadNumber(dir / h->limit_file);
      std::optional<uint64_t> usage = ReadNumber(dir / h->usage_file);
      if (limit && usage) {
        bool tighter = !best || static_cast<double>(*limit) - static_cast<double>(*usage) <
                                    static_cast<double>(best->limit_bytes) -
                                        static_cast<double>(best->used_bytes);
        if (tighter) {
          best = MemoryLimit{h->source, "cgroup usage", *limit, *usage, model.duration_ns};
        }
      }
      if (dir == h->root || !dir.has_relative_path() || dir.parent_path() == dir) break;
      dir = dir.parent_path();
    }
    return best;
  };
}

}  // namespace allocwatch::report
