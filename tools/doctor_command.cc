// tools/doctor_command.cc: `allocwatch doctor`: the machine-side checklist for ENOMEM and OOM
// kills (memory, overcommit, memory cgroup, OOM kills so far, top memory users, map count,
// rlimits), each figure explained, then the risks found with what addresses each.
#include <dirent.h>

#include <algorithm>
#include <cinttypes>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "nlohmann/json.hpp"
#include "preload/procfs/cgroup_reader.h"
#include "preload/procfs/proc_text.h"
#include "report/analysis/diagnosis.h"
#include "report/analysis/number_format.h"
#include "report/analysis/process_memory.h"
#include "report/render/render.h"
#include "spdlog/spdlog.h"
#include "tools/commands.h"
#include "tools/oom_evidence.h"

namespace allocwatch::tools {
namespace {

using nlohmann::json;
constexpr uint64_t kUnknown = format::kHeadroomUnknown;
constexpr uint64_t kUnlimited = format::kHeadroomUnlimited;

bool Known(uint64_t v) { return v != kUnknown; }
bool Limited(uint64_t v) { return v != kUnknown && v != kUnlimited; }

std::string ReadText(const std::string& root, const std::string& path, bool* ok = nullptr) {
  std::ifstream in(root + path, std::ios::binary);
  if (ok != nullptr) *ok = static_cast<bool>(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t Key(const std::string& text, const char* key) {
  return preload::FindKeyValue(text.c_str(), key);
}

uint64_t Number(const std::string& root, const std::string& path) {
  bool ok = false;
  std::string t = ReadText(root, path, &ok);
  if (!ok || t.empty() || t[0] < '0' || t[0] > '9') return kUnknown;
  return std::stoull(t);
}

// null when unknown, "unlimited" when there is no limit.
json Figure(uint64_t v) {
  if (v == kUnknown) return nullptr;
  if (v == kUnlimited) return "unlimited";
  return v;
}

std::string Bytes(uint64_t v) { return report::LimitText(v); }
std::string Kb(uint64_t kb) { return Known(kb) ? Bytes(kb * 1024) : "unknown"; }

// /proc/PID/limits: soft limit of the line starting with `name`, bytes or unlimited.
uint64_t SoftLimit(const std::string& limits, const std::string& name) {
  std::istringstream in(limits);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    std::istringstream fields(line.substr(name.size()));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return kUnlimited;
    try {
      return std::stoull(soft);
    } catch (const std::exception&) {
      return kUnknown;
    }
  }
  return kUnknown;
}

struct Risk {
  std::string what;
  std::string fix;
};

struct Facts {
  json j;
  std::vector<std::string> text;
  std::vector<Risk> risks;
};

void Memory(const std::string& root, Facts& f) {
  std::string meminfo = ReadText(root, "/proc/meminfo");
  uint64_t total = Key(meminfo, "MemTotal"), avail = Key(meminfo, "MemAvailable");
  uint64_t swap = Key(meminfo, "SwapTotal"), swap_free = Key(meminfo, "SwapFree");
  f.j["memory"] = {{"mem_total_kb", Figure(total)},
                   {"mem_available_kb", Figure(avail)},
                   {"swap_total_kb", Figure(swap)},
                   {"swap_free_kb", Figure(swap_free)}};
  f.text.push_back("RAM         " + Kb(total) + ", available " + Kb(avail) +
                   " (MemAvailable: what can be allocated without swapping)");
  f.text.push_back("swap        " + Kb(swap) + ", free " + Kb(swap_free));
  if (Known(total) && Known(avail) && avail * 10 < total) {
    f.risks.push_back({"only " + Kb(avail) + " of " + Kb(total) + " RAM is available",
                       "see the top memory users below; stop or limit them, or add RAM/swap"});
  }
  uint64_t mode = Number(root, "/proc/sys/vm/overcommit_memory");
  uint64_t limit = Key(meminfo, "CommitLimit"), committed = Key(meminfo, "Committed_AS");
  f.j["overcommit"] = {{"mode", Figure(mode)},
                       {"ratio", Figure(Number(root, "/proc/sys/vm/overcommit_ratio"))},
                       {"kbytes", Figure(Number(root, "/proc/sys/vm/overcommit_kbytes"))},
                       {"commit_limit_kb", Figure(limit)},
                       {"committed_as_kb", Figure(committed)}};
  std::string explain = mode == 0
                            ? "heuristic: only a single request larger than RAM+swap is refused"
                        : mode == 1 ? "always: never refused; running out ends in OOM kills"
                        : mode == 2 ? "strict: refused once Committed_AS reaches CommitLimit"
                                    : "unknown";
  f.text.push_back("overcommit  mode " + (Known(mode) ? std::to_string(mode) : "?") + " (" +
                   explain + "), CommitLimit " + Kb(limit) + ", Committed_AS " + Kb(committed));
  if (mode == 2 && Known(limit) && Known(committed) && committed * 10 >= limit * 9) {
    f.risks.push_back(
        {"strict overcommit: " + Kb(committed) + " committed of a " + Kb(limit) +
             " commit limit; new allocations will fail with ENOMEM",
         "sysctl vm.overcommit_ratio=<higher> or add swap (or vm.overcommit_memory=0)"});
  }
}

void Cgroup(const std::string& root, const std::string& proc, Facts& f) {
  auto cg = std::make_unique<preload::CgroupReading>();
  preload::ReadCgroup(root.c_str(), cg.get(), proc.c_str());
  if (cg->version == format::kCgroupNone) {
    f.j["cgroup"] = nullptr;
    f.text.push_back("cgroup      no memory cgroup found: only the machine's memory limits apply");
    return;
  }
  std::string kind = cg->version == format::kCgroupV1 ? "v1" : "v2";
  if (cg->flags & format::kCgroupFlagHybrid) kind += " (hybrid host: memory on v1)";
  json levels = json::array();
  std::string path = cg->path;
  for (uint32_t i = 0; i < cg->level_count; ++i) {
    const format::CgroupLevel& l = cg->levels[i];
    levels.push_back({{"path", path.empty() ? "/" : path},
                      {"limit", Figure(l.limit)},
                      {"usage", Figure(l.usage)},
                      {"high", Figure(l.high)},
                      {"swap_limit", Figure(l.swap_limit)},
                      {"oom_kill", Figure(l.events_oom_kill)}});
    size_t slash = path.rfind('/');
    path = slash == std::string::npos ? "" : path.substr(0, slash);
  }
  f.j["cgroup"] = {
      {"version", cg->version},
      {"hybrid", (cg->flags & format::kCgroupFlagHybrid) != 0},
      {"path", cg->path},
      {"dir", cg->dir},
      {"headroom", Figure(cg->headroom)},
      {"effective_limit", Figure(cg->effective_limit)},
      {"binding_level", cg->binding_level == UINT32_MAX ? json(nullptr) : json(cg->binding_level)},
      {"levels", levels}};
  const format::CgroupLevel& leaf = cg->levels[0];
  f.text.push_back("cgroup      " + kind + " " + cg->path + ": usage " + Bytes(leaf.usage) +
                   ", effective limit " + Bytes(cg->effective_limit) + ", headroom " +
                   Bytes(cg->headroom) + " (the least limit-usage over " +
                   std::to_string(cg->total_levels) + " levels up to the mount point)");
  if (cg->binding_level != UINT32_MAX) {
    f.text.push_back("            binding level: " +
                     levels[cg->binding_level]["path"].get<std::string>());
  }
  if (Limited(cg->headroom) && Limited(cg->effective_limit) &&
      cg->headroom * 10 < cg->effective_limit) {
    std::string file = cg->version == format::kCgroupV1 ? "memory.limit_in_bytes" : "memory.max";
    std::string at = cg->binding_level != UINT32_MAX
                         ? levels[cg->binding_level]["path"].get<std::string>()
                         : cg->path;
    f.risks.push_back({"memory cgroup " + at + " has " + Bytes(cg->headroom) + " left of " +
                           Bytes(cg->effective_limit) + ": the next growth ends in an OOM kill",
                       "raise " + file + " of cgroup " + at + " (echo BYTES > <cgroupfs>" + at +
                           "/" + file + "; systemd: MemoryMax=)"});
  }
  if (Limited(leaf.high) && Known(leaf.usage) && leaf.usage * 10 >= leaf.high * 9) {
    f.risks.push_back({"usage " + Bytes(leaf.usage) + " is at memory.high " + Bytes(leaf.high) +
                           ": the cgroup is throttled",
                       "raise memory.high (systemd: MemoryHigh=)"});
  }
  if (Known(leaf.events_oom_kill) && leaf.events_oom_kill > 0) {
    f.risks.push_back(
        {std::to_string(leaf.events_oom_kill) + " OOM kills in memory cgroup " + cg->path,
         "raise the cgroup's limit or find what grows (allocwatch run -- PROGRAM)"});
  }
}

void OomKills(const std::string& root, Facts& f) {
  uint64_t kills = Key(ReadText(root, "/proc/vmstat"), "oom_kill");
  bool readable = false;
  std::vector<std::string> lines;
  if (root.empty()) lines = KernelOomLines(0, &readable);
  f.j["oom_kills"] = {
      {"vmstat_oom_kill", Figure(kills)}, {"kernel_log_readable", readable}, {"kernel_log", lines}};
  f.text.push_back("OOM kills   " + (Known(kills) ? std::to_string(kills) : "unknown") +
                   " since boot (/proc/vmstat oom_kill)" +
                   (readable ? ", " + std::to_string(lines.size()) + " kernel log lines"
                             : ", kernel log not readable (dmesg_restrict or a container)"));
  for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) {
    f.text.push_back("            " + lines[i]);
  }
  if (Known(kills) && kills > 0) {
    f.risks.push_back({std::to_string(kills) + " processes were OOM-killed since boot",
                       "dmesg | grep -i 'killed process' shows which; limit or fix them"});
  }
}

void TopProcesses(const std::string& root, Facts& f) {
  std::vector<std::tuple<uint64_t, int, std::string>> procs;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir((root + "/proc").c_str()), closedir);
  if (!dir) return;
  while (dirent* e = readdir(dir.get())) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string status = ReadText(root, std::string("/proc/") + e->d_name + "/status");
    uint64_t rss = Key(status, "VmRSS");
    if (!Known(rss)) continue;
    size_t name = status.find("Name:");
    std::string comm = name == std::string::npos
                           ? "?"
                           : status.substr(name + 5, status.find('\n', name) - name - 5);
    comm.erase(0, comm.find_first_not_of(" \t"));
    procs.emplace_back(rss, std::atoi(e->d_name), comm);
  }
  std::sort(procs.rbegin(), procs.rend());
  if (procs.size() > 5) procs.resize(5);
  json top = json::array();
  f.text.push_back("top memory users (RSS):");
  for (const auto& [rss, pid, comm] : procs) {
    top.push_back({{"pid", pid}, {"name", comm}, {"rss_kb", rss}});
    f.text.push_back("            " + Kb(rss) + "  pid " + std::to_string(pid) + " " + comm);
  }
  f.j["top_processes"] = top;
}

void MapsAndLimits(const std::string& root, const std::string& proc, Facts& f) {
  uint64_t max_maps = Number(root, "/proc/sys/vm/max_map_count");
  std::string maps = ReadText(root, proc + "/maps");
  uint64_t count = static_cast<uint64_t>(std::count(maps.begin(), maps.end(), '\n'));
  if (maps.find("[vsyscall]") != std::string::npos) --count;
  std::string limits = ReadText(root, proc + "/limits");
  uint64_t as = SoftLimit(limits, "Max address space"), data = SoftLimit(limits, "Max data size");
  uint64_t memlock = SoftLimit(limits, "Max locked memory");
  std::string status = ReadText(root, proc + "/status");
  uint64_t vm_size = Key(status, "VmSize"), vm_data = Key(status, "VmData");
  f.j["maps"] = {{"count", count}, {"max_map_count", Figure(max_maps)}};
  f.j["rlimits"] = {{"as", Figure(as)},
                    {"data", Figure(data)},
                    {"memlock", Figure(memlock)},
                    {"vm_size_kb", Figure(vm_size)},
                    {"vm_data_kb", Figure(vm_data)}};
  f.text.push_back("mappings    " + std::to_string(count) + " of vm.max_map_count " +
                   (Known(max_maps) ? std::to_string(max_maps) : "unknown"));
  f.text.push_back("rlimits     AS " + Bytes(as) + " (VmSize " + Kb(vm_size) + "), DATA " +
                   Bytes(data) + " (VmData " + Kb(vm_data) + "), MEMLOCK " + Bytes(memlock));
  if (Known(max_maps) && count * 2 > max_maps) {
    f.risks.push_back({std::to_string(count) + " mappings of " + std::to_string(max_maps) +
                           " allowed: mmap, mprotect and munmap will fail with ENOMEM",
                       "sysctl -w vm.max_map_count=262144"});
  }
  if (Limited(as)) {
    f.risks.push_back({"RLIMIT_AS is " + Bytes(as) + " (VmSize " + Kb(vm_size) +
                           "): every mapping, even reserved-only, counts",
                       "ulimit -v unlimited (systemd: LimitAS=infinity)"});
  }
  if (Limited(data)) {
    f.risks.push_back({"RLIMIT_DATA is " + Bytes(data) + " (VmData " + Kb(vm_data) + ")",
                       "ulimit -d unlimited (systemd: LimitDATA=infinity)"});
  }
}

// --pid: where the process's resident memory is, by kind of mapping, and the causes named.
void ResidentMemory(const std::string& root, const std::string& proc, Facts& f) {
  bool ok = false;
  std::string smaps = ReadText(root, proc + "/smaps", &ok);
  if (!ok || smaps.empty()) {
    f.text.push_back("resident    unknown (" + root + proc + "/smaps is not readable)");
    f.j["resident"] = nullptr;
    return;
  }
  report::ProcessMemory m = report::ReadProcessMemory(smaps, ReadText(root, proc + "/status"));
  f.j["resident"] = {{"rss_anon_bytes", m.rss_anon},
                     {"rss_file_bytes", m.rss_file},
                     {"rss_shmem_bytes", m.rss_shmem},
                     {"swap_bytes", m.swap},
                     {"threads", m.threads},
                     {"main_heap_bytes", m.main_heap_rss},
                     {"arena_heaps_bytes", m.arena_rss},
                     {"arena_heaps", m.arena_heaps},
                     {"stacks_bytes", m.stack_rss},
                     {"thread_stacks", m.thread_stacks},
                     {"other_anon_bytes", m.other_anon_rss},
                     {"shared_anon_bytes", m.shared_rss},
                     {"file_bytes", m.file_rss},
                     {"reserved_bytes", m.reserved_bytes},
                     {"own_heaps", m.own_heaps}};
  auto b = [](uint64_t v) { return report::FormatBytes(static_cast<double>(v)); };
  f.text.push_back("resident    anonymous " + b(m.rss_anon) + ", file-backed " + b(m.rss_file) +
                   ", shared " + b(m.rss_shmem) + ", swapped out " + b(m.swap));
  f.text.push_back("            glibc heap " + b(m.main_heap_rss) + " main arena + " +
                   b(m.arena_rss) + " in " + std::to_string(m.arena_heaps) +
                   " other arena heaps; stacks " + b(m.stack_rss) + " (" +
                   std::to_string(m.thread_stacks) + " thread stacks, " +
                   std::to_string(m.threads) + " threads); other anonymous " + b(m.other_anon_rss));
  std::string heaps;
  for (const std::string& n : m.own_heaps) heaps += (heaps.empty() ? "" : ", ") + n;
  f.text.push_back("            reserved address space " + b(m.reserved_bytes) +
                   " (PROT_NONE: not memory; counts only against RLIMIT_AS)" +
                   (heaps.empty() ? "" : "; heaps of their own: " + heaps));
  for (const report::ProcessMemoryFinding& finding : report::ProcessMemoryFindings(m)) {
    f.risks.push_back({finding.what, finding.fix});
  }
}

}  // namespace

int RunDoctor(const DoctorCommandOptions& o) {
  std::string proc = o.pid > 0 ? "/proc/" + std::to_string(o.pid) : "/proc/self";
  bool exists = false;
  ReadText(o.root, proc + "/status", &exists);
  if (!exists) {
    if (o.pid > 0) {
      spdlog::error("{}: no such process (or {} is not readable)", o.pid, o.root + proc);
    } else {
      spdlog::error("cannot read {}/status", o.root + proc);
    }
    return 1;
  }
  Facts f;
  Memory(o.root, f);
  Cgroup(o.root, proc, f);
  OomKills(o.root, f);
  TopProcesses(o.root, f);
  MapsAndLimits(o.root, proc, f);
  if (o.pid > 0) ResidentMemory(o.root, proc, f);
  json risks = json::array();
  for (const Risk& r : f.risks) risks.push_back({{"risk", r.what}, {"fix", r.fix}});
  f.j["risks"] = risks;
  f.j["pid"] = o.pid > 0 ? o.pid : 0;
  if (o.json) {
    json doc = {{"schema", "allocwatch.doctor"}, {"version", 1}};
    doc.update(f.j);
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  std::cout << "== allocwatch doctor" << (o.pid > 0 ? " (pid " + std::to_string(o.pid) + ")" : "")
            << " ==\n";
  for (const std::string& line : f.text) std::cout << line << "\n";
  std::cout << "\nVerdict: "
            << (f.risks.empty() ? "no memory risk found"
                                : std::to_string(f.risks.size()) + " risk(s)")
            << "\n";
  for (const Risk& r : f.risks) std::cout << "  - " << r.what << "\n      fix: " << r.fix << "\n";
  return 0;
}

}  // namespace allocwatch::tools
