// report/replay/model_records.cc: the records that describe the process and the recording
// rather than its memory: process, modules, threads, stacks (resolved against the modules as
// they are read), exec, end, lost events and sampling period changes.
#include <algorithm>
#include <cstring>
#include <string>

#include "report/replay/replayer.h"

namespace allocwatch::report::detail {
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
  if (have_process_) return;  // only the first one counts
  auto p = As<format::ProcessRecord>(r);
  uint64_t need =
      sizeof(p) + uint64_t{p.exe_size} + p.cmdline_size + p.kernel_size + p.boot_id_size;
  if (need > r.bytes.size()) {
    throw ReadError(m_->path + ": damaged process record at offset " + std::to_string(r.offset));
  }
  const char* s = reinterpret_cast<const char*>(r.bytes.data()) + sizeof(p);
  m_->pid = p.pid;
  m_->ppid = p.ppid;
  m_->session_id = p.session_id;
  m_->start_realtime_ns = p.start_realtime_ns;
  m_->sample_bytes = p.sample_bytes == 0 ? 1 : p.sample_bytes;
  m_->page_size = p.page_size;
  m_->exact = (p.flags & format::kProcessFlagExact) != 0;
  m_->fork_child = (p.flags & format::kProcessFlagForkChild) != 0;
  m_->attached = (p.flags & format::kProcessFlagAttached) != 0;
  m_->exe.assign(s, p.exe_size);
  s += p.exe_size;
  std::string cmdline(s, p.cmdline_size);
  s += p.cmdline_size;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    m_->argv.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  // A program that rewrote its title (setproctitle: nginx, PostgreSQL) pads the rest of the
  // old arguments' space with NULs, read back as a run of empty arguments. One empty argument
  // at the end may be the program's own, and is kept.
  size_t trailing = 0;
  while (trailing < m_->argv.size() && m_->argv[m_->argv.size() - 1 - trailing].empty()) {
    ++trailing;
  }
  if (trailing >= 2) m_->argv.resize(std::max<size_t>(1, m_->argv.size() - trailing));
  m_->kernel.assign(s, p.kernel_size);
  s += p.kernel_size;
  m_->boot_id.assign(s, p.boot_id_size);
  have_process_ = true;
}

void Replayer::OnModuleLoad(const RawRecord& r) {
  auto rec = As<format::ModuleLoadRecord>(r);
  if (sizeof(rec) + rec.path_size > r.bytes.size() || rec.build_id_size > format::kMaxBuildIdSize) {
    m_->warnings.push_back("damaged module record at offset " + std::to_string(r.offset));
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
  m_->modules.push_back(std::move(info));
  loaded_dirty_ = true;
}

void Replayer::OnModuleUnload(const RawRecord& r) {
  auto rec = As<format::ModuleUnloadRecord>(r);
  for (ModuleInfo& mod : m_->modules) {
    if (mod.id == rec.module_id && mod.unload_position == UINT64_MAX) {
      mod.unload_position = position_;
    }
  }
  loaded_dirty_ = true;
}

void Replayer::OnThread(const RawRecord& r) {
  auto rec = As<format::ThreadRecord>(r);
  m_->threads[rec.tid] = std::string(rec.name, strnlen(rec.name, sizeof(rec.name)));
}

void Replayer::OnStack(const RawRecord& r) {
  auto rec = As<format::StackRecord>(r);
  if (sizeof(rec) + uint64_t{rec.depth} * 8 > r.bytes.size()) {
    m_->warnings.push_back("damaged stack record at offset " + std::to_string(r.offset));
    return;
  }
  StackId id{rec.stack_id};
  auto [stack, added] = m_->stacks.try_emplace(id);
  if (added) m_->stack_order.push_back(id);
  if (ResolveFrames(r.bytes.data() + sizeof(rec), rec.depth, stack->second)) {
    unresolved_.erase(id);
  } else {
    unresolved_[id] = position_;
  }
}

void Replayer::OnExec(const RawRecord& r) {
  auto rec = As<format::ExecRecord>(r);
  size_t n = std::min<size_t>(rec.path_size, r.bytes.size() - sizeof(rec));
  m_->exec_path.assign(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(rec), n);
  m_->ending = Ending::kExec;
  m_->duration_ns = std::max(m_->duration_ns, rec.time_ns);
}

void Replayer::OnEnd(const RawRecord& r) {
  auto rec = As<format::EndRecord>(r);
  m_->ending = rec.reason == format::kEndReasonUExit    ? Ending::kUnderscoreExit
               : rec.reason == format::kEndReasonDetach ? Ending::kDetach
                                                        : Ending::kExit;
  m_->exec_path.clear();  // an Exec record before the end means that exec failed
  m_->exit_status = rec.exit_status;
  m_->lost_events = rec.lost_events;
  m_->duration_ns = std::max(m_->duration_ns, rec.time_ns);
}

void Replayer::OnRecovered(const RawRecord& r) {
  auto rec = As<format::RecoveredRecord>(r);
  Recovery& v = m_->recovered;
  v.merged = true;
  v.writer_bytes += rec.writer_bytes;
  v.events += rec.events;
  v.batches += rec.batches;
  v.duplicates += rec.duplicates;
  v.torn_bytes += rec.torn_bytes;
}

void Replayer::OnLost(const RawRecord& r) {
  auto rec = As<format::LostRecord>(r);
  if (r.flags & format::kLostFlagReopened) {
    m_->warnings.push_back("the program closed or replaced the recording's descriptor (at " +
                           std::to_string(rec.time_ns / 1000000) +
                           " ms); allocwatch reopened the file and went on recording");
  }
  if (r.flags & format::kLostFlagNoMemory) {
    m_->warnings.push_back(
        "the process ran out of memory at " + std::to_string(rec.time_ns / 1000000) +
        " ms and allocwatch's own tables could not grow: sampled allocations and mappings "
        "made while memory was short are missing (" +
        std::to_string(rec.events) + " so far); the program went on");
  } else if (rec.events > 0) {
    m_->warnings.push_back(std::to_string(rec.events) + " events were lost before " +
                           std::to_string(rec.time_ns / 1000000) + " ms");
  }
}

void Replayer::OnPeriod(const RawRecord& r) {
  auto rec = As<format::PeriodRecord>(r);
  m_->period_changes.push_back(
      {rec.time_ns, rec.old_sample_bytes, rec.new_sample_bytes, rec.write_ns, rec.interval_ns});
}

void Replayer::OnControl(const RawRecord& r) {
  auto rec = As<format::ControlRecord>(r);
  m_->controls.push_back({rec.time_ns, rec.command, rec.recording != 0});
}

int Replayer::LoadedModuleAt(uint64_t ip) {
  if (loaded_dirty_) {
    loaded_.clear();
    for (size_t i = 0; i < m_->modules.size(); ++i) {
      const ModuleInfo& mod = m_->modules[i];
      if (mod.unload_position == UINT64_MAX && mod.start < mod.end) {
        loaded_.push_back(LoadedRange{mod.start, mod.end, static_cast<int>(i)});
      }
    }
    std::sort(loaded_.begin(), loaded_.end(),
              [](const LoadedRange& a, const LoadedRange& b) { return a.start < b.start; });
    loaded_overlap_ = false;
    for (size_t i = 1; i < loaded_.size(); ++i) {
      if (loaded_[i].start < loaded_[i - 1].end) loaded_overlap_ = true;
    }
    loaded_dirty_ = false;
  }
  if (loaded_overlap_) {
    for (size_t i = 0; i < m_->modules.size(); ++i) {
      const ModuleInfo& mod = m_->modules[i];
      if (mod.unload_position == UINT64_MAX && ip >= mod.start && ip < mod.end) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  auto after = std::upper_bound(loaded_.begin(), loaded_.end(), ip,
                                [](uint64_t a, const LoadedRange& r) { return a < r.start; });
  if (after == loaded_.begin()) return -1;
  --after;
  return ip < after->end ? after->module : -1;
}

bool Replayer::ResolveFrames(const uint8_t* ips, size_t n, std::vector<RawFrame>& frames) {
  frames.resize(n);
  bool whole = true;
  for (size_t k = 0; k < n; ++k) {
    RawFrame f;
    std::memcpy(&f.address, ips + 8 * k, 8);
    f.module = LoadedModuleAt(f.address);
    if (f.module >= 0) {
      f.elf_address = f.address - m_->modules[f.module].load_bias;
    } else {
      whole = false;
    }
    frames[k] = f;
  }
  return whole;
}

void Replayer::ResolveStacks() {
  for (const auto& [id, position] : unresolved_) {
    auto stack = m_->stacks.find(id);
    if (stack == m_->stacks.end()) continue;
    for (RawFrame& f : stack->second) {
      if (f.module >= 0) continue;
      for (size_t i = 0; i < m_->modules.size(); ++i) {
        const ModuleInfo& mod = m_->modules[i];
        if (f.address >= mod.start && f.address < mod.end && mod.load_position > position) {
          f.module = static_cast<int>(i);
          f.elf_address = f.address - mod.load_bias;
          break;
        }
      }
    }
  }
}

}  // namespace allocwatch::report::detail
