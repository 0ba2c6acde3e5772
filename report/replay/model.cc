// report/replay/model.cc: see model.h. Replays the records of one recording.
#include "report/replay/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"

#include "report/reader/recording_reader.h"
#include "report/replay/replayer.h"

namespace allocwatch::report {
namespace detail {

void Replayer::Touch(StackId id, StackState& st, double count, double bytes, double mapped,
                     double count_var, double bytes_var, int64_t samples) {
  if (st.epoch != epoch_) {
    st.epoch = epoch_;
    changed_.push_back(id);
  }
  st.pend_count += count, st.pend_bytes += bytes, st.pend_mapped += mapped;
  st.pend_count_var += count_var, st.pend_bytes_var += bytes_var, st.pend_samples += samples;
  if (!st.pending) {
    st.pending = true;
    pending_.push_back(id);
  }
}

void Replayer::TrackPeak(uint64_t time_ns) {
  double total = m_.totals.live_bytes + m_.totals.mapped_live_bytes;
  if (total > m_.peak_live_bytes) {
    m_.peak_live_bytes = total;
    m_.peak_time_ns = time_ns;
    m_.peak_position = position_;
    for (StackId id : pending_) {
      StackState& st = states_[id];
      SiteFigures& at = m_.at_peak[id];
      at.live_count += st.pend_count, at.live_bytes += st.pend_bytes;
      at.mapped_live_bytes += st.pend_mapped;
      at.live_count_var += st.pend_count_var, at.live_bytes_var += st.pend_bytes_var;
      at.live_samples = static_cast<uint64_t>(static_cast<int64_t>(at.live_samples) + st.pend_samples);
      st.pend_count = st.pend_bytes = st.pend_mapped = st.pend_count_var = st.pend_bytes_var = 0;
      st.pend_samples = 0;
      st.pending = false;
    }
    pending_.clear();
  }
}

void Replayer::RemoveLive(absl::flat_hash_map<uint64_t, LiveBlock>::iterator it) {
  const LiveBlock& b = it->second;
  StackState& st = State(b.stack);
  SiteFigures& site = st.fig;
  double bytes = b.weight * static_cast<double>(b.size);
  double var_count = b.weight * b.weight - b.weight;
  double var_bytes = var_count * static_cast<double>(b.size) * static_cast<double>(b.size);
  site.live_count -= b.weight, site.live_bytes -= bytes, site.live_samples -= 1;
  site.live_count_var -= var_count, site.live_bytes_var -= var_bytes;
  m_.totals.live_count -= b.weight, m_.totals.live_bytes -= bytes, m_.totals.live_samples -= 1;
  m_.totals.live_count_var -= var_count, m_.totals.live_bytes_var -= var_bytes;
  Touch(b.stack, st, -b.weight, -bytes, 0, -var_count, -var_bytes, -1);
  live_.erase(it);
}

void Replayer::OnAlloc(const RawRecord& r) {
  auto rec = As<format::AllocRecord>(r);
  if (!Kept(rec.time_ns, rec.tid)) {
    // Left out by a filter; a block still listed at this address was freed unseen.
    auto it = live_.find(rec.address);
    if (it != live_.end()) RemoveLive(it);
    return;
  }
  StackId stack{rec.stack_id};
  double w = SampleWeight(rec.size, rec.sample_bytes != 0 ? rec.sample_bytes : m_.sample_bytes);
  double size = static_cast<double>(rec.size);
  double var_count = w * w - w;
  double var_bytes = var_count * size * size;
  auto it = live_.find(rec.address);
  // Not freed as far as the recording knows: its free was lost, or comes next (timed just
  // after this allocation on another CPU). Drop the older block.
  if (it != live_.end()) {
    RemoveLive(it);
    superseded_[rec.address] = Reordered{rec.time_ns, rec.tid, 0};
  }
  StackState& st = State(stack);
  SiteFigures& site = st.fig;
  if ((r.flags & format::kAllocFlagRestored) == 0) {
    site.alloc_count += w, site.alloc_bytes += w * size, site.samples += 1;
    site.alloc_count_var += var_count, site.alloc_bytes_var += var_bytes;
    m_.totals.alloc_count += w, m_.totals.alloc_bytes += w * size, m_.totals.samples += 1;
    m_.totals.alloc_count_var += var_count, m_.totals.alloc_bytes_var += var_bytes;
  }
  live_.emplace(rec.address, LiveBlock{rec.size, stack, w, rec.time_ns});
  site.live_count += w, site.live_bytes += w * size, site.live_samples += 1;
  site.live_count_var += var_count, site.live_bytes_var += var_bytes;
  m_.totals.live_count += w, m_.totals.live_bytes += w * size, m_.totals.live_samples += 1;
  m_.totals.live_count_var += var_count, m_.totals.live_bytes_var += var_bytes;
  Touch(stack, st, w, w * size, 0, var_count, var_bytes, 1);
  last_alloc_[rec.tid] = LastAlloc{rec.address, stack, true};
  TrackPeak(rec.time_ns);
  auto parked = parked_.find(rec.address);
  if (parked != parked_.end()) {
    // A free of this address came first, timed just before this allocation on another CPU.
    Reordered free = parked->second;
    parked_.erase(parked);
    // A thread's own events are in order: only another thread's free can be early.
    if (free.tid != rec.tid && rec.time_ns <= free.time_ns + kReorderNs) {
      FreeAddress(rec.address, free.tid, free.flags, rec.time_ns);
    } else {
      ++m_.unknown_frees;
    }
  }
}

void Replayer::OnFree(const RawRecord& r) {
  auto rec = As<format::FreeRecord>(r);
  FreeAddress(rec.address, rec.tid, r.flags, rec.time_ns);
}

void Replayer::FreeAddress(uint64_t address, uint32_t tid, uint16_t flags, uint64_t time_ns) {
  if ((flags & format::kFreeFlagRealloc) == 0) {
    auto last = last_alloc_.find(tid);
    if (last != last_alloc_.end() && last->second.valid) {
      if (last->second.address == address) {
        // Only a block the filters kept can be the thread's last allocation.
        State(last->second.stack).fig.temporary_count += 1;
        m_.totals.temporary_count += 1;
      }
      last->second.valid = false;
    }
  }
  auto superseded = superseded_.find(address);
  if (superseded != superseded_.end()) {
    bool late = superseded->second.tid != tid && time_ns <= superseded->second.time_ns + kReorderNs;
    superseded_.erase(superseded);
    if (late) return;  // the free of the block the allocation replaced, timed just after it
  }
  auto it = live_.find(address);
  if (it == live_.end()) {
    // Perhaps its allocation comes next, timed just after it on another CPU (event times are
    // read without a fence); else a block allocated before recording began.
    if (parked_.size() >= kMaxReordered) ExpireReordered(time_ns, /*all=*/true);
    parked_[address] = Reordered{time_ns, tid, flags};
    return;
  }
  RemoveLive(it);
}

void Replayer::ExpireReordered(uint64_t now_ns, bool all) {
  auto stale = [&](const auto& entry) { return all || entry.second.time_ns + kReorderNs < now_ns; };
  m_.unknown_frees += absl::erase_if(parked_, stale);  // frees of blocks never seen
  absl::erase_if(superseded_, stale);
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
    StackState& st = State(m.stack);
    st.fig.mapped_live_bytes -= cut;
    Touch(m.stack, st, 0, 0, -cut, 0, 0, 0);
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
  StackState& st = State(stack);
  SiteFigures& site = st.fig;
  double len = static_cast<double>(length);
  site.mapped_bytes += len, site.mapped_live_bytes += len, site.mmap_calls += 1;
  Touch(stack, st, 0, 0, len, 0, 0, 0);
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
    case RecordType::kEvents:  // the reader hands them out as Alloc and Free records
    case RecordType::kClock:   // and uses these itself
      break;
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
      if (!Kept(rec.time_ns, rec.tid)) break;
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
      if (!Kept(rec.time_ns, rec.tid)) break;
      OnMmap(rec.new_address, rec.new_length, StackId{rec.stack_id});
      TrackPeak(rec.time_ns);
      break;
    }
    case RecordType::kSnapshot: {
      auto rec = As<format::SnapshotRecord>(r);
      if (rec.time_ns < options_.since_ns) break;
      m_.snapshot_positions.push_back(position_);
      m_.snapshots.push_back(Snapshot{rec.time_ns, rec.heap_in_use_bytes,
                                      rec.alloc_calls, rec.free_calls, rec.heap_allocated_bytes,
                                      rec.mmap_live_bytes, rec.rss_bytes, rec.vm_size_bytes,
                                      rec.lost_events});
      m_.lost_events = std::max(m_.lost_events, rec.lost_events);
      m_.duration_ns = std::max(m_.duration_ns, rec.time_ns);
      ExpireReordered(rec.time_ns, /*all=*/false);
      if (rec.time_ns >= options_.since_ns && snapshots_seen_++ % stride_ == 0) {
        SeriesSample(rec.time_ns);
      }
      break;
    }
    case RecordType::kFailure: {
      auto rec = As<format::FailureRecord>(r);
      if (!Kept(rec.time_ns, rec.tid)) break;
      Failure f{rec.time_ns, static_cast<format::Call>(rec.call), {}, rec.result, rec.error,
                rec.tid, StackId{rec.stack_id}, std::nullopt};
      std::memcpy(f.args, rec.args, sizeof(f.args));
      ++m_.failures_total;
      if (m_.failures.size() < kMaxFailuresKept) {
        m_.failures.push_back(f);
        failure_position_ = position_;
      }
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
    case RecordType::kHeadroom: OnHeadroom(r); break;
    case RecordType::kEnd: OnEnd(r); break;
    case RecordType::kPeriod: {
      auto rec = As<format::PeriodRecord>(r);
      m_.period_changes.push_back({rec.time_ns, rec.old_sample_bytes, rec.new_sample_bytes,
                                   rec.write_ns, rec.interval_ns});
      break;
    }
    case RecordType::kLost: {
      auto rec = As<format::LostRecord>(r);
      if (r.flags & format::kLostFlagReopened) {
        m_.warnings.push_back("the program closed or replaced the recording's descriptor (at " +
                              std::to_string(rec.time_ns / 1000000) +
                              " ms); allocwatch reopened the file and went on recording");
      }
      if (r.flags & format::kLostFlagNoMemory) {
        m_.warnings.push_back(
            "the process ran out of memory at " + std::to_string(rec.time_ns / 1000000) +
            " ms and allocwatch's own tables could not grow: sampled allocations and mappings "
            "made while memory was short are missing (" + std::to_string(rec.events) +
            " so far); the program went on");
      } else if (rec.events > 0) {
        m_.warnings.push_back(std::to_string(rec.events) + " events were lost before " +
                              std::to_string(rec.time_ns / 1000000) + " ms");
      }
      break;
    }
    case RecordType::kLive: break;
  }
}

void Replayer::Run(RecordingReader& reader) {
  m_.options = options_;
  bool past_until = false;
  while (const RawRecord* r = reader.NextView()) {
    ++position_;
    if (position_ == 1 && r->type != RecordType::kProcess) {
      throw ReadError(m_.path + ": damaged recording (no process record at offset " +
                      std::to_string(r->offset) + ")");
    }
    // Time of the last record seen, for processes cut short.
    if (r->bytes.size() >= 16 && r->type != RecordType::kProcess && r->type != RecordType::kStack &&
        r->type != RecordType::kLive) {
      uint64_t t;
      std::memcpy(&t, r->bytes.data() + 8, sizeof(t));
      if (t < (uint64_t{1} << 62)) {
        if (t > options_.until_ns) {
          past_until = true;
          m_.stopped_at_until = true;
          break;
        }
        m_.duration_ns = std::max(m_.duration_ns, t);
      }
    }
    Dispatch(*r);
  }
  if (!have_process_) throw ReadError(m_.path + ": empty recording (no process record)");
  if (!past_until && reader.warning()) {
    m_.warnings.push_back(*reader.warning());
    m_.truncated_tail = true;
  }
  ResolveStacks();
  Finish();
}

// Keeps every other sample, so the series of a long run stay within kMaxSeriesSamples; later
// snapshots are taken at the doubled stride.
void Replayer::HalveSeries() {
  size_t n = m_.series_times_ns.size();
  for (size_t i = 0; 2 * i < n; ++i) {
    m_.series_times_ns[i] = m_.series_times_ns[2 * i];
    m_.series_total_live[i] = m_.series_total_live[2 * i];
  }
  m_.series_times_ns.resize((n + 1) / 2);
  m_.series_total_live.resize((n + 1) / 2);
  // Old sample s holds from s on; new sample j is old 2j, so a point moves to ceil(s / 2) and,
  // of points landing together, the last one holds.
  for (auto& [id, points] : m_.live_series) {
    size_t out = 0;
    for (const SeriesPoint& p : points) {
      uint32_t j = (p.sample + 1) / 2;
      if (out > 0 && points[out - 1].sample == j) {
        points[out - 1].live_bytes = p.live_bytes;
      } else {
        points[out++] = SeriesPoint{j, p.live_bytes};
      }
    }
    points.resize(out);
  }
  stride_ *= 2;
}

void Replayer::SeriesSample(uint64_t time_ns) {
  if (m_.series_times_ns.size() >= kMaxSeriesSamples) HalveSeries();
  auto sample = static_cast<uint32_t>(m_.series_times_ns.size());
  m_.series_times_ns.push_back(time_ns);
  m_.series_total_live.push_back(m_.totals.live_bytes + m_.totals.mapped_live_bytes);
  for (StackId id : changed_) {
    const SiteFigures& f = states_[id].fig;
    std::vector<SeriesPoint>& points = m_.live_series[id];
    double live = f.live_bytes + f.mapped_live_bytes;
    if (!points.empty() && points.back().sample == sample) {
      points.back().live_bytes = live;  // a point moved here by HalveSeries
    } else {
      points.push_back(SeriesPoint{sample, live});
    }
  }
  changed_.clear();
  ++epoch_;
}

void Replayer::Finish() {
  ExpireReordered(0, /*all=*/true);
  if (m_.series_times_ns.empty() || m_.series_times_ns.back() < m_.duration_ns) {
    SeriesSample(m_.duration_ns);
  }
  for (const auto& [address, block] : live_) {
    SiteFigures& f = states_[block.stack].fig;
    f.newest_live_ns = std::max(f.newest_live_ns, block.time_ns);
    f.oldest_live_ns = std::min(f.oldest_live_ns, block.time_ns);
    m_.totals.newest_live_ns = std::max(m_.totals.newest_live_ns, block.time_ns);
    m_.totals.oldest_live_ns = std::min(m_.totals.oldest_live_ns, block.time_ns);
  }
  m_.per_stack.reserve(states_.size());
  for (auto& [id, st] : states_) m_.per_stack.emplace(id, st.fig);
  states_.clear();
}

// Maps each return address to the module that covered it when the stack was recorded (or, for
// modules first written after the stack, the first one loaded later).

}  // namespace detail

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
  alloc_count_var += o.alloc_count_var, alloc_bytes_var += o.alloc_bytes_var;
  live_count_var += o.live_count_var, live_bytes_var += o.live_bytes_var;
  temporary_count += o.temporary_count;
  newest_live_ns = std::max(newest_live_ns, o.newest_live_ns);
  oldest_live_ns = std::min(oldest_live_ns, o.oldest_live_ns);
}

void AddSeries(const std::vector<SeriesPoint>& points, std::vector<double>& out) {
  for (size_t i = 0; i < points.size(); ++i) {
    size_t end = i + 1 < points.size() ? points[i + 1].sample : out.size();
    for (size_t k = points[i].sample; k < end && k < out.size(); ++k) out[k] += points[i].live_bytes;
  }
}

ProcessModel LoadProcess(const std::string& path, const LoadOptions& options) {
  ProcessModel model;
  model.path = path;
  {
    RecordingReader reader(path);
    detail::Replayer(model, options).Run(reader);
  }
  // Cut short (killed): what was live some snapshots before the end, to show what grew.
  if (model.ending == Ending::kCutShort && options.until_ns == UINT64_MAX &&
      model.snapshots.size() >= 2) {
    size_t n = model.snapshots.size();
    size_t index = n >= 4 ? n - 4 : 0;
    LoadOptions earlier_options = options;
    earlier_options.until_ns = model.snapshots[index].time_ns;
    ProcessModel earlier = LoadProcess(path, earlier_options);
    model.before_end = std::move(earlier.per_stack);
    model.growth_since_ns = model.snapshots[index].time_ns;
  }
  return model;
}


}  // namespace allocwatch::report
