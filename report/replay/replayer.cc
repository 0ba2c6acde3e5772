// report/replay/replayer.cc: the loop over a recording's records, the time each one carries,
// the dispatch to their handlers, and the end of the replay. See replayer.h.
#include "report/replay/replayer.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>

namespace allocwatch::report::detail {
namespace {

// Every record that carries a time has it right after its header.
struct TimedRecord {
  format::RecordHeader header;
  uint64_t time_ns;
};
template <typename T>
constexpr bool kTimeAfterHeader = offsetof(T, time_ns) == offsetof(TimedRecord, time_ns);
static_assert(offsetof(TimedRecord, time_ns) == sizeof(format::RecordHeader));
static_assert(kTimeAfterHeader<format::ModuleLoadRecord> &&
              kTimeAfterHeader<format::ModuleUnloadRecord> &&
              kTimeAfterHeader<format::ThreadRecord> && kTimeAfterHeader<format::AllocRecord> &&
              kTimeAfterHeader<format::FreeRecord> && kTimeAfterHeader<format::MmapRecord> &&
              kTimeAfterHeader<format::MunmapRecord> && kTimeAfterHeader<format::MremapRecord> &&
              kTimeAfterHeader<format::SnapshotRecord> && kTimeAfterHeader<format::FailureRecord> &&
              kTimeAfterHeader<format::ExecRecord> && kTimeAfterHeader<format::EndRecord> &&
              kTimeAfterHeader<format::LostRecord> && kTimeAfterHeader<format::PeriodRecord> &&
              kTimeAfterHeader<format::HeadroomRecord> && kTimeAfterHeader<format::BrinkRecord> &&
              kTimeAfterHeader<format::ProtectRecord> && kTimeAfterHeader<format::AdviseRecord> &&
              kTimeAfterHeader<format::MemoryRecord> && kTimeAfterHeader<format::ControlRecord>);

// The time of `r` in nanoseconds since the start, for the record types that carry one.
std::optional<uint64_t> RecordTime(const RawRecord& r) {
  if (r.event) return r.event->time_ns;
  switch (r.type) {
    case RecordType::kModuleLoad:
    case RecordType::kModuleUnload:
    case RecordType::kThread:
    case RecordType::kAlloc:
    case RecordType::kFree:
    case RecordType::kMmap:
    case RecordType::kMunmap:
    case RecordType::kMremap:
    case RecordType::kSnapshot:
    case RecordType::kFailure:
    case RecordType::kExec:
    case RecordType::kEnd:
    case RecordType::kLost:
    case RecordType::kPeriod:
    case RecordType::kHeadroom:
    case RecordType::kBrink:
    case RecordType::kProtect:
    case RecordType::kAdvise:
    case RecordType::kMemory:
    case RecordType::kControl:
      if (r.bytes.size() < sizeof(TimedRecord)) return std::nullopt;
      return As<TimedRecord>(r).time_ns;
    case RecordType::kProcess:
    case RecordType::kStack:
    case RecordType::kLive:
    case RecordType::kRecovered:
    case RecordType::kEvents:  // the reader hands them out as Alloc and Free records
    case RecordType::kClock:   // and uses these itself
      break;
  }
  return std::nullopt;
}

}  // namespace

void Replayer::Pump(RecordingReader& reader, bool read_ahead, const std::atomic<bool>* cancel,
                    uint64_t stop_offset) {
  m_->options = options_;
  if (past_until_) return;
  if (read_ahead) {
    // The reader thread may have read past where a cancelled replay stops: not for a reader
    // that must go on later.
    if (cancel != nullptr || stop_offset != UINT64_MAX) {
      return Pump(reader, false, cancel, stop_offset);
    }
    ReadAhead ahead(reader);  // stopped and joined on every way out
    const format::Event* events = nullptr;
    size_t n = 0;
    uint64_t offset = 0;
    const RawRecord* r = nullptr;
    while (ahead.Next(&events, &n, &offset, &r)) {
      if (n > 0 ? !ReplayEvents(events, n, offset) : !ReplayRecord(*r)) return;
    }
    return;
  }
  while ((cancel == nullptr || !cancel->load(std::memory_order_relaxed)) &&
         reader.offset() < stop_offset) {
    uint64_t offset = 0;
    if (size_t n = reader.NextEvents(batch_.data(), batch_.size(), &offset)) {
      if (!ReplayEvents(batch_.data(), n, offset)) return;
      continue;
    }
    const RawRecord* r = reader.NextView();
    if (r == nullptr || !ReplayRecord(*r)) return;
  }
}

bool Replayer::ReplayRecord(const RawRecord& r) {
  ++position_;
  if (position_ == 1 && r.type != RecordType::kProcess) NoProcessRecord(r.offset);
  // Time of the last record seen, for processes cut short.
  std::optional<uint64_t> t = RecordTime(r);
  if (t && !Reached(*t)) return false;
  Dispatch(r);
  return true;
}

bool Replayer::ReplayEvents(const format::Event* events, size_t n, uint64_t offset) {
  for (size_t i = 0; i < n; ++i) {
    const format::Event& e = events[i];
    if (++position_ == 1) NoProcessRecord(offset);
    if (!Reached(e.time_ns)) return false;
    if (format::IsAllocKind(e.kind)) {
      OnAlloc(e);
    } else {
      OnFree(e);
    }
  }
  return true;
}

bool Replayer::Reached(uint64_t t) {
  if (t >= (uint64_t{1} << 62)) return true;
  if (t > options_.until_ns) {
    past_until_ = true;
    m_->stopped_at_until = true;
    return false;
  }
  m_->duration_ns = std::max(m_->duration_ns, t);
  SampleSeriesBefore(t);
  return true;
}

void Replayer::NoProcessRecord(uint64_t offset) {
  throw ReadError(m_->path + ": damaged recording (no process record at offset " +
                  std::to_string(offset) + ")");
}

void Replayer::Complete(const std::optional<std::string>& warning) {
  if (!have_process_) throw ReadError(m_->path + ": empty recording (no process record)");
  if (!past_until_ && warning) {
    m_->warnings.push_back(*warning);
    m_->truncated_tail = true;
  }
  ResolveStacks();
  Finish();
}

void Replayer::Dispatch(const RawRecord& r) {
  switch (r.type) {
    case RecordType::kProcess:
      return OnProcess(r);
    case RecordType::kModuleLoad:
      return OnModuleLoad(r);
    case RecordType::kModuleUnload:
      return OnModuleUnload(r);
    case RecordType::kThread:
      return OnThread(r);
    case RecordType::kStack:
      return OnStack(r);
    case RecordType::kAlloc:
      return r.event ? OnAlloc(*r.event) : OnAlloc(HeapEvent(r));
    case RecordType::kFree:
      return r.event ? OnFree(*r.event) : OnFree(HeapEvent(r));
    case RecordType::kMmap:
      return OnMmap(r);
    case RecordType::kMunmap:
      return OnMunmap(r);
    case RecordType::kMremap:
      return OnMremap(r);
    case RecordType::kSnapshot:
      return OnSnapshot(r);
    case RecordType::kFailure:
      return OnFailure(r);
    case RecordType::kExec:
      return OnExec(r);
    case RecordType::kHeadroom:
      return OnHeadroom(r);
    case RecordType::kEnd:
      return OnEnd(r);
    case RecordType::kPeriod:
      return OnPeriod(r);
    case RecordType::kLost:
      return OnLost(r);
    case RecordType::kRecovered:
      return OnRecovered(r);
    case RecordType::kBrink:
      return OnBrink(r);
    case RecordType::kProtect:
      return OnProtect(r);
    case RecordType::kAdvise:
      return OnAdvise(r);
    case RecordType::kMemory:
      return OnMemory(r);
    case RecordType::kControl:
      return OnControl(r);
    case RecordType::kLive:    // not used by the report
    case RecordType::kEvents:  // the reader hands them out as Alloc and Free records
    case RecordType::kClock:   // and uses these itself
      return;
  }
}

void Replayer::Finish() {
  ExpireReordered(0, /*all=*/true);
  if (m_->series_times_ns.empty() || m_->series_times_ns.back() < m_->duration_ns) {
    SeriesSample(m_->duration_ns);
  }
  for (const auto& [address, block] : live_) {
    SiteFigures& f = State(block.stack).fig;
    f.newest_live_ns = std::max(f.newest_live_ns, block.time_ns);
    f.oldest_live_ns = std::min(f.oldest_live_ns, block.time_ns);
    m_->totals.newest_live_ns = std::max(m_->totals.newest_live_ns, block.time_ns);
    m_->totals.oldest_live_ns = std::min(m_->totals.oldest_live_ns, block.time_ns);
  }
  m_->per_stack.reserve(states_.size());
  for (auto& [id, st] : states_) m_->per_stack.emplace(id, st.fig);
  states_.clear();
  state_cached_ = nullptr;
}

}  // namespace allocwatch::report::detail
