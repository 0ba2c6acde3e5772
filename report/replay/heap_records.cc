// report/replay/heap_records.cc: heap blocks: Alloc and Free records, the live blocks they
// leave, temporaries, and the repair of an allocation and a free of one address that came in
// the wrong order (timed without a fence on two CPUs, kReorderNs apart at most).
#include "report/replay/replayer.h"

namespace allocwatch::report::detail {

void Replayer::RemoveLive(absl::flat_hash_map<uint64_t, LiveBlock>::iterator it) {
  Unaccount(it->second);
  live_.erase(it);
}

template <int kSign>
[[gnu::always_inline]] inline void Replayer::MoveLive(StackId id, StackState& st,
                                                      const BlockFigures& f) {
  constexpr double sign = kSign;
  SiteFigures& site = st.fig;
  SiteFigures& total = m_->totals;
  site.live_count += sign * f.count, site.live_bytes += sign * f.bytes;
  total.live_count += sign * f.count, total.live_bytes += sign * f.bytes;
  st.pend_count += sign * f.count, st.pend_bytes += sign * f.bytes;
  site.live_samples += static_cast<uint64_t>(int64_t{kSign});
  total.live_samples += static_cast<uint64_t>(int64_t{kSign});
  st.pend_samples += kSign;
  if (f.weighted()) {
    site.live_count_var += sign * f.count_var, site.live_bytes_var += sign * f.bytes_var;
    total.live_count_var += sign * f.count_var, total.live_bytes_var += sign * f.bytes_var;
    st.pend_count_var += sign * f.count_var, st.pend_bytes_var += sign * f.bytes_var;
  }
  Touch(id, st);
}

void Replayer::Unaccount(const LiveBlock& b) {
  MoveLive<-1>(b.stack, State(b.stack), BlockFigures(b.weight, b.size));
}

namespace {

// Counts an allocation of figures `f` among those made.
void CountAllocated(SiteFigures& s, const BlockFigures& f) {
  s.alloc_count += f.count, s.alloc_bytes += f.bytes, s.samples += 1;
  if (f.weighted()) s.alloc_count_var += f.count_var, s.alloc_bytes_var += f.bytes_var;
}

// The fields an AllocRecord and a FreeRecord share.
template <typename Record>
format::Event Common(const Record& rec, format::EventKind kind) {
  format::Event e{};
  e.kind = kind;
  e.call = rec.call;
  e.tid = rec.tid;
  e.time_ns = rec.time_ns;
  e.address = rec.address;
  return e;
}

}  // namespace

format::Event HeapEvent(const RawRecord& r) {
  if (r.event) return *r.event;
  if (r.type != RecordType::kAlloc) {
    bool realloc = (r.flags & format::kFreeFlagRealloc) != 0;
    return Common(As<format::FreeRecord>(r),
                  realloc ? format::EventKind::kReallocFree : format::EventKind::kFree);
  }
  auto rec = As<format::AllocRecord>(r);
  bool restored = (r.flags & format::kAllocFlagRestored) != 0;
  format::Event e =
      Common(rec, restored ? format::EventKind::kRestoredAlloc : format::EventKind::kAlloc);
  e.size = rec.size;
  e.stack_id = rec.stack_id;
  e.sample_bytes = rec.sample_bytes;
  return e;
}

void Replayer::OnAlloc(const format::Event& rec) {
  if (!Kept(rec.time_ns, rec.tid)) {
    // Left out by a filter; a block still listed at this address was freed unseen.
    auto it = live_.find(rec.address);
    if (it != live_.end()) RemoveLive(it);
    return;
  }
  StackId stack{rec.stack_id};
  double w = SampleWeight(rec.size, rec.sample_bytes != 0 ? rec.sample_bytes : m_->sample_bytes);
  LiveBlock block{rec.size, stack, w, rec.time_ns};
  auto [it, inserted] = live_.try_emplace(rec.address, block);
  // Not freed as far as the recording knows: its free was lost, or comes next (timed just
  // after this allocation on another CPU). Drop the older block.
  if (!inserted) {
    Unaccount(it->second);
    it->second = block;
    superseded_[rec.address] = Reordered{rec.time_ns, rec.tid, 0};
  }
  StackState& st = State(stack);
  const BlockFigures f(w, rec.size);
  if (rec.kind != format::EventKind::kRestoredAlloc) {
    CountAllocated(st.fig, f);
    CountAllocated(m_->totals, f);
  }
  MoveLive<1>(stack, st, f);
  LastAllocOf(rec.tid) = LastAlloc{rec.address, stack, true};
  TrackPeak(rec.time_ns);
  if (parked_.empty()) return;
  auto parked = parked_.find(rec.address);
  if (parked != parked_.end()) {
    // A free of this address came first, timed just before this allocation on another CPU.
    Reordered free = parked->second;
    parked_.erase(parked);
    // A thread's own events are in order: only another thread's free can be early.
    if (free.tid != rec.tid && rec.time_ns <= free.time_ns + kReorderNs) {
      FreeAddress(rec.address, free.tid, free.flags, rec.time_ns);
    } else {
      ++m_->unknown_frees;
    }
  }
}

void Replayer::OnFree(const format::Event& e) {
  uint16_t flags = e.kind == format::EventKind::kReallocFree ? format::kFreeFlagRealloc : 0;
  FreeAddress(e.address, e.tid, flags, e.time_ns);
}

void Replayer::FreeAddress(uint64_t address, uint32_t tid, uint16_t flags, uint64_t time_ns) {
  if ((flags & format::kFreeFlagRealloc) == 0) {
    LastAlloc& last = LastAllocOf(tid);
    if (last.valid) {
      if (last.address == address) {
        // Only a block the filters kept can be the thread's last allocation.
        State(last.stack).fig.temporary_count += 1;
        m_->totals.temporary_count += 1;
      }
      last.valid = false;
    }
  }
  auto superseded = superseded_.empty() ? superseded_.end() : superseded_.find(address);
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
  m_->unknown_frees += absl::erase_if(parked_, stale);  // frees of blocks never seen
  absl::erase_if(superseded_, stale);
}

}  // namespace allocwatch::report::detail
