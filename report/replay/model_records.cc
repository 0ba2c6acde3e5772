// report/replay/model_records.cc: the records of a recording that describe the process rather than
// its memory events: process, modules, stacks (resolved against the modules at the end),
// headroom snapshots; and the names of calls.
#include <algorithm>
#include <cstring>

#include "report/replay/model.h"
#include "report/replay/replayer.h"

namespace allocwatch::report {
namespace detail {
namespace {

std::string Hex(const uint8_t* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[data[i] >> 4];
    s += kDigits[data[i] & 15];
  }
  return s;
}

}  // namespace

void Replayer::OnProcess(const RawRecord& r) {
  auto p = As<format::ProcessRecord>(r);
  uint64_t need = sizeof(p) + uint64_t{p.exe_size} + p.cmdline_size + p.kernel_size +
                  p.boot_id_size;
  if (need > r.bytes.size()) {
    throw ReadError(m_.path + ": damaged process record at offset " + std::to_string(r.offset));
  }
  const char* s = reinterpret_cast<const char*>(r.bytes.data()) + sizeof(p);
  m_.pid = p.pid;
  m_.ppid = p.ppid;
  m_.session_id = p.session_id;
  m_.start_realtime_ns = p.start_realtime_ns;
  m_.sample_bytes = p.sample_bytes == 0 ? 1 : p.sample_bytes;
  m_.page_size = p.page_size;
  m_.exact = (p.flags & format::kProcessFlagExact) != 0;
  m_.fork_child = (p.flags & format::kProcessFlagForkChild) != 0;
  m_.exe.assign(s, p.exe_size);
  s += p.exe_size;
  std::string cmdline(s, p.cmdline_size);
  s += p.cmdline_size;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    m_.argv.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  m_.kernel.assign(s, p.kernel_size);
  s += p.kernel_size;
  m_.boot_id.assign(s, p.boot_id_size);
  have_process_ = true;
}

void Replayer::OnModuleLoad(const RawRecord& r) {
  auto rec = As<format::ModuleLoadRecord>(r);
  if (sizeof(rec) + rec.path_size > r.bytes.size() || rec.build_id_size > format::kMaxBuildIdSize) {
    m_.warnings.push_back("damaged module record at offset " + std::to_string(r.offset));
    return;
  }
  ModuleInfo info;
  info.id = rec.module_id;
  info.path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(rec), rec.path_size);
  info.build_id = Hex(rec.build_id, rec.build_id_size);
  info.load_bias = rec.load_bias;
  info.start = rec.start;
  info.end = rec.end;
  info.load_position = position_;
  m_.modules.push_back(std::move(info));
}

void Replayer::OnStack(const RawRecord& r) {
  auto rec = As<format::StackRecord>(r);
  if (sizeof(rec) + uint64_t{rec.depth} * 8 > r.bytes.size()) {
    m_.warnings.push_back("damaged stack record at offset " + std::to_string(r.offset));
    return;
  }
  std::vector<uint64_t> ips(rec.depth);
  if (rec.depth > 0) std::memcpy(ips.data(), r.bytes.data() + sizeof(rec), rec.depth * 8);
  raw_stacks_[StackId{rec.stack_id}] = {std::move(ips), position_};
}

void Replayer::OnHeadroom(const RawRecord& r) {
  Headroom h;
  h.record = As<format::HeadroomRecord>(r);
  uint64_t levels = uint64_t{h.record.cgroup_level_count} * sizeof(format::CgroupLevel);
  if (h.record.cgroup_level_count > format::kMaxCgroupLevels ||
      sizeof(h.record) + levels + h.record.cgroup_path_size > r.bytes.size()) {
    m_.warnings.push_back("damaged headroom record at offset " + std::to_string(r.offset));
    return;
  }
  h.levels.resize(h.record.cgroup_level_count);
  if (levels > 0) std::memcpy(h.levels.data(), r.bytes.data() + sizeof(h.record), levels);
  h.cgroup_path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(h.record) + levels,
                       h.record.cgroup_path_size);
  h.periodic = (r.flags & format::kHeadroomFlagPeriodic) != 0;
  // A failure's snapshot is the record right after it.
  if (!h.periodic && failure_position_ + 1 == position_ && !m_.failures.empty()) {
    m_.failures.back().headroom = std::move(h);
  } else {
    m_.headrooms.push_back(std::move(h));
  }
}

void Replayer::ResolveStacks() {
  for (auto& [id, entry] : raw_stacks_) {
    const auto& [ips, position] = entry;
    std::vector<RawFrame> frames;
    frames.reserve(ips.size());
    for (uint64_t ip : ips) {
      RawFrame f{ip, -1, 0};
      int later = -1;
      for (size_t i = 0; i < m_.modules.size(); ++i) {
        const ModuleInfo& mod = m_.modules[i];
        if (ip < mod.start || ip >= mod.end) continue;
        if (mod.load_position <= position && position < mod.unload_position) {
          f.module = static_cast<int>(i);
          break;
        }
        if (mod.load_position > position && later < 0) later = static_cast<int>(i);
      }
      if (f.module < 0) f.module = later;
      if (f.module >= 0) f.elf_address = ip - m_.modules[f.module].load_bias;
      frames.push_back(f);
    }
    m_.stacks[id] = std::move(frames);
  }
}

}  // namespace detail

const char* CallName(format::Call call) {
  switch (call) {
    case format::Call::kMalloc: return "malloc";
    case format::Call::kCalloc: return "calloc";
    case format::Call::kRealloc: return "realloc";
    case format::Call::kReallocArray: return "reallocarray";
    case format::Call::kPosixMemalign: return "posix_memalign";
    case format::Call::kAlignedAlloc: return "aligned_alloc";
    case format::Call::kMemalign: return "memalign";
    case format::Call::kValloc: return "valloc";
    case format::Call::kPvalloc: return "pvalloc";
    case format::Call::kFree: return "free";
    case format::Call::kMmap: return "mmap";
    case format::Call::kMmap64: return "mmap64";
    case format::Call::kMunmap: return "munmap";
    case format::Call::kMremap: return "mremap";
  }
  return "unknown";
}

}  // namespace allocwatch::report
