// report/model.cc: see model.h. Replays the records of one recording.
#include "report/model.h"

#include <cmath>
#include <cstring>

#include "report/recording_reader.h"

namespace allocwatch::report {
namespace {

using format::RecordType;

template <typename T>
T As(const RawRecord& r) {
  T out;
  std::memcpy(&out, r.bytes.data(), sizeof(T));
  return out;
}

std::string Hex(const uint8_t* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[data[i] >> 4];
    s += kDigits[data[i] & 15];
  }
  return s;
}

struct LiveBlock {
  uint64_t size;
  StackId stack;
  double weight;
};

struct Mapping {
  uint64_t length;
  StackId stack;
};

class Replayer {
 public:
  Replayer(ProcessModel& model, uint64_t stop_position)
      : m_(model), stop_position_(stop_position) {}

  void Run(RecordingReader& reader, bool first_pass);

 private:
  void OnProcess(const RawRecord& r);
  void OnModuleLoad(const RawRecord& r);
  void OnStack(const RawRecord& r);
  void OnAlloc(const RawRecord& r);
  void OnFree(const RawRecord& r);
  void OnMmap(uint64_t address, uint64_t length, StackId stack);
  void Unmap(uint64_t address, uint64_t length);
  void OnEnd(const RawRecord& r);
  void TrackPeak(uint64_t time_ns);
  void Dispatch(const RawRecord& r);
  void ResolveStacks();

  ProcessModel& m_;
  uint64_t stop_position_;
  uint64_t position_ = 0;
  bool have_process_ = false;
  absl::flat_hash_map<uint64_t, LiveBlock> live_;
  std::map<uint64_t, Mapping> mappings_;
  absl::flat_hash_map<StackId, std::pair<std::vector<uint64_t>, uint64_t>> raw_stacks_;
};

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

void Replayer::TrackPeak(uint64_t time_ns) {
  double total = m_.totals.live_bytes + m_.totals.mapped_live_bytes;
  if (total > m_.peak_live_bytes) {
    m_.peak_live_bytes = total;
    m_.peak_time_ns = time_ns;
    m_.peak_position = position_;
  }
}

void Replayer::OnAlloc(const RawRecord& r) {
  auto rec = As<format::AllocRecord>(r);
  StackId stack{rec.stack_id};
  double w = SampleWeight(rec.size, m_.sample_bytes);
  SiteFigures& site = m_.per_stack[stack];
  if ((r.flags & format::kAllocFlagRestored) == 0) {
    site.alloc_count += w;
    site.alloc_bytes += w * static_cast<double>(rec.size);
    site.samples += 1;
    m_.totals.alloc_count += w;
    m_.totals.alloc_bytes += w * static_cast<double>(rec.size);
    m_.totals.samples += 1;
  }
  auto [it, inserted] = live_.try_emplace(rec.address, LiveBlock{rec.size, stack, w});
  if (!inserted) {
    // Not freed as far as the recording knows (a lost record): replace the older block.
    SiteFigures& old = m_.per_stack[it->second.stack];
    double ow = it->second.weight;
    double ob = ow * static_cast<double>(it->second.size);
    old.live_count -= ow, old.live_bytes -= ob, old.live_samples -= 1;
    m_.totals.live_count -= ow, m_.totals.live_bytes -= ob, m_.totals.live_samples -= 1;
    it->second = LiveBlock{rec.size, stack, w};
  }
  double bytes = w * static_cast<double>(rec.size);
  site.live_count += w, site.live_bytes += bytes, site.live_samples += 1;
  m_.totals.live_count += w, m_.totals.live_bytes += bytes, m_.totals.live_samples += 1;
  TrackPeak(rec.time_ns);
}

void Replayer::OnFree(const RawRecord& r) {
  auto rec = As<format::FreeRecord>(r);
  auto it = live_.find(rec.address);
  if (it == live_.end()) {
    ++m_.unknown_frees;
    return;
  }
  const LiveBlock& b = it->second;
  SiteFigures& site = m_.per_stack[b.stack];
  double bytes = b.weight * static_cast<double>(b.size);
  site.live_count -= b.weight, site.live_bytes -= bytes, site.live_samples -= 1;
  m_.totals.live_count -= b.weight, m_.totals.live_bytes -= bytes, m_.totals.live_samples -= 1;
  live_.erase(it);
}

void Replayer::Unmap(uint64_t address, uint64_t length) {
  const uint64_t end = address + length;
  auto it = mappings_.upper_bound(address);
  if (it != mappings_.begin()) --it;
  while (it != mappings_.end() && it->first < end) {
    uint64_t m_start = it->first;
    Mapping m = it->second;
    uint64_t m_end = m_start + m.length;
    if (m_end <= address) {
      ++it;
      continue;
    }
    it = mappings_.erase(it);
    uint64_t cut_start = std::max(m_start, address), cut_end = std::min(m_end, end);
    double cut = static_cast<double>(cut_end - cut_start);
    m_.per_stack[m.stack].mapped_live_bytes -= cut;
    m_.totals.mapped_live_bytes -= cut;
    if (m_start < cut_start) mappings_[m_start] = Mapping{cut_start - m_start, m.stack};
    if (cut_end < m_end) {
      mappings_[cut_end] = Mapping{m_end - cut_end, m.stack};
      break;
    }
    it = mappings_.lower_bound(cut_end);
  }
}

void Replayer::OnMmap(uint64_t address, uint64_t length, StackId stack) {
  Unmap(address, length);
  mappings_[address] = Mapping{length, stack};
  SiteFigures& site = m_.per_stack[stack];
  double len = static_cast<double>(length);
  site.mapped_bytes += len, site.mapped_live_bytes += len, site.mmap_calls += 1;
  m_.totals.mapped_bytes += len, m_.totals.mapped_live_bytes += len, m_.totals.mmap_calls += 1;
}

void Replayer::OnEnd(const RawRecord& r) {
  auto rec = As<format::EndRecord>(r);
  m_.ending = rec.reason == format::kEndReasonUExit ? Ending::kUnderscoreExit : Ending::kExit;
  m_.exec_path.clear();  // an Exec record before the end means that exec failed
  m_.exit_status = rec.exit_status;
  m_.lost_events = rec.lost_events;
  m_.duration_ns = std::max(m_.duration_ns, rec.time_ns);
}

void Replayer::Dispatch(const RawRecord& r) {
  switch (r.type) {
    case RecordType::kProcess:
      if (!have_process_) OnProcess(r);
      break;
    case RecordType::kModuleLoad: OnModuleLoad(r); break;
    case RecordType::kModuleUnload: {
      auto rec = As<format::ModuleUnloadRecord>(r);
      for (ModuleInfo& mod : m_.modules) {
        if (mod.id == rec.module_id && mod.unload_position == UINT64_MAX) {
          mod.unload_position = position_;
        }
      }
      break;
    }
    case RecordType::kThread: {
      auto rec = As<format::ThreadRecord>(r);
      m_.threads[rec.tid] = std::string(rec.name, strnlen(rec.name, sizeof(rec.name)));
      break;
    }
    case RecordType::kStack: OnStack(r); break;
    case RecordType::kAlloc: OnAlloc(r); break;
    case RecordType::kFree: OnFree(r); break;
    case RecordType::kMmap: {
      auto rec = As<format::MmapRecord>(r);
      OnMmap(rec.address, rec.length, StackId{rec.stack_id});
      TrackPeak(rec.time_ns);
      break;
    }
    case RecordType::kMunmap: {
      auto rec = As<format::MunmapRecord>(r);
      Unmap(rec.address, rec.length);
      break;
    }
    case RecordType::kMremap: {
      auto rec = As<format::MremapRecord>(r);
      Unmap(rec.old_address, rec.old_length);
      OnMmap(rec.new_address, rec.new_length, StackId{rec.stack_id});
      TrackPeak(rec.time_ns);
      break;
    }
    case RecordType::kSnapshot: {
      auto rec = As<format::SnapshotRecord>(r);
      m_.snapshots.push_back(Snapshot{rec.time_ns, rec.heap_allocated_bytes - rec.heap_freed_bytes,
                                      rec.alloc_calls, rec.free_calls, rec.heap_allocated_bytes,
                                      rec.mmap_live_bytes, rec.rss_bytes, rec.vm_size_bytes,
                                      rec.lost_events});
      m_.lost_events = std::max(m_.lost_events, rec.lost_events);
      m_.duration_ns = std::max(m_.duration_ns, rec.time_ns);
      break;
    }
    case RecordType::kFailure: {
      auto rec = As<format::FailureRecord>(r);
      Failure f{rec.time_ns, static_cast<format::Call>(rec.call), {}, rec.result, rec.error,
                rec.tid, StackId{rec.stack_id}};
      std::memcpy(f.args, rec.args, sizeof(f.args));
      m_.failures.push_back(f);
      break;
    }
    case RecordType::kExec: {
      auto rec = As<format::ExecRecord>(r);
      size_t n = std::min<size_t>(rec.path_size, r.bytes.size() - sizeof(rec));
      m_.exec_path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(rec), n);
      m_.ending = Ending::kExec;
      m_.duration_ns = std::max(m_.duration_ns, rec.time_ns);
      break;
    }
    case RecordType::kEnd: OnEnd(r); break;
    case RecordType::kLost: {
      auto rec = As<format::LostRecord>(r);
      if (r.flags & format::kLostFlagReopened) {
        m_.warnings.push_back("the program closed or replaced the recording's descriptor (at " +
                              std::to_string(rec.time_ns / 1000000) +
                              " ms); allocwatch reopened the file and went on recording");
      }
      if (rec.events > 0) {
        m_.warnings.push_back(std::to_string(rec.events) + " events were lost before " +
                              std::to_string(rec.time_ns / 1000000) + " ms");
      }
      break;
    }
    case RecordType::kLive: break;
  }
}

}  // namespace

double SampleWeight(uint64_t size, uint64_t period) {
  if (period <= 1 || size >= period) return 1.0;
  if (size == 0) return 1.0;
  double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(period));
  return 1.0 / p;
}

void SiteFigures::Add(const SiteFigures& o) {
  alloc_count += o.alloc_count, alloc_bytes += o.alloc_bytes;
  live_count += o.live_count, live_bytes += o.live_bytes;
  samples += o.samples, live_samples += o.live_samples;
  mapped_bytes += o.mapped_bytes, mapped_live_bytes += o.mapped_live_bytes;
  mmap_calls += o.mmap_calls;
}

void Replayer::Run(RecordingReader& reader, bool first_pass) {
  while (auto r = reader.Next()) {
    ++position_;
    if (position_ == 1 && r->type != RecordType::kProcess) {
      throw ReadError(m_.path + ": damaged recording (no process record at offset " +
                      std::to_string(r->offset) + ")");
    }
    if (!first_pass && position_ > stop_position_) return;
    // Time of the last record seen, for processes cut short.
    if (r->bytes.size() >= 16 && r->type != RecordType::kProcess && r->type != RecordType::kStack &&
        r->type != RecordType::kLive) {
      uint64_t t;
      std::memcpy(&t, r->bytes.data() + 8, sizeof(t));
      if (t < (uint64_t{1} << 62)) m_.duration_ns = std::max(m_.duration_ns, t);
    }
    Dispatch(*r);
  }
  if (!have_process_) throw ReadError(m_.path + ": empty recording (no process record)");
  if (first_pass) {
    if (reader.warning()) m_.warnings.push_back(*reader.warning());
    ResolveStacks();
  }
}

// Maps each return address to the module that covered it when the stack was recorded (or, for
// modules first written after the stack, the first one loaded later).
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

ProcessModel LoadProcess(const std::string& path) {
  ProcessModel model;
  model.path = path;
  {
    RecordingReader reader(path);
    Replayer(model, UINT64_MAX).Run(reader, /*first_pass=*/true);
  }
  if (model.peak_position > 0) {
    ProcessModel at_peak;
    at_peak.path = path;
    RecordingReader reader(path);
    Replayer(at_peak, model.peak_position).Run(reader, /*first_pass=*/false);
    model.at_peak = std::move(at_peak.per_stack);
  }
  return model;
}

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
