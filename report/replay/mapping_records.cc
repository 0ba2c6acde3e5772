// report/replay/mapping_records.cc: mappings: Mmap, Munmap, Mremap, Protect and Advise records,
// and the mapped ranges they leave (an unmap may cut a range in two, an mprotect in three).
// An inaccessible range (PROT_NONE) is reserved address space: it is counted apart
// (reserved_live_bytes) and never as memory. An accessible range given back by madvise
// (MADV_DONTNEED, MADV_FREE) stays committed but is not resident until touched again, which
// no record shows: it is counted apart as discarded (discarded_live_bytes, not in
// mapped_live_bytes) until an mprotect, mmap or mremap makes it anew.
#include <sys/mman.h>

#include <algorithm>
#include <functional>

#include "report/replay/replayer.h"

namespace allocwatch::report::detail {

void Replayer::OnMmap(const RawRecord& r) {
  auto rec = As<format::MmapRecord>(r);
  if (!Kept(rec.time_ns, rec.tid)) return;
  Map(rec.address, rec.length, StackId{rec.stack_id}, rec.prot == PROT_NONE);
  TrackPeak(rec.time_ns);
}

void Replayer::OnMunmap(const RawRecord& r) {
  auto rec = As<format::MunmapRecord>(r);
  Unmap(rec.address, rec.length);
}

void Replayer::OnMremap(const RawRecord& r) {
  auto rec = As<format::MremapRecord>(r);
  bool reserved = false;  // the kernel moves or grows one mapping: its protection stays
  Unmap(rec.old_address, rec.old_length, &reserved);
  if (!Kept(rec.time_ns, rec.tid)) return;
  Map(rec.new_address, rec.new_length, StackId{rec.stack_id}, reserved);
  TrackPeak(rec.time_ns);
}

void Replayer::OnProtect(const RawRecord& r) {
  auto rec = As<format::ProtectRecord>(r);
  const bool reserve = rec.prot == PROT_NONE;
  // Committed bytes are charged to the caller of mprotect when it was kept (the mapping's own
  // stack otherwise); reserved ones stay with the mapping's stack.
  const bool charge = !reserve && rec.stack_id != 0 && Kept(rec.time_ns, rec.tid);
  Retag(rec.address, rec.length, [&](const Mapping& m, Mapping* now) {
    if (m.reserved == reserve && (reserve || !m.discarded)) return false;
    const bool newly_committed = m.reserved && !reserve;
    *now = Mapping{m.length, newly_committed && charge ? StackId{rec.stack_id} : m.stack, reserve,
                   false};
    return true;
  });
  TrackPeak(rec.time_ns);
}

void Replayer::OnAdvise(const RawRecord& r) {
  auto rec = As<format::AdviseRecord>(r);
  Retag(rec.address, rec.length, [](const Mapping& m, Mapping* now) {
    if (m.reserved || m.discarded) return false;
    *now = m;
    now->discarded = true;
    return true;
  });
}

void Replayer::Retag(uint64_t address, uint64_t length,
                     const std::function<bool(const Mapping&, Mapping*)>& change) {
  const uint64_t end = address + length;
  auto it = FirstMappingEndingAfter(address);
  while (it != mappings_.end() && it->first < end) {
    const uint64_t m_start = it->first;
    const Mapping m = it->second;
    const uint64_t m_end = m_start + m.length;
    Mapping changed;
    if (!change(m, &changed)) {
      ++it;
      continue;
    }
    const uint64_t cut_start = std::max(m_start, address), cut_end = std::min(m_end, end);
    const double cut = static_cast<double>(cut_end - cut_start);
    it = mappings_.erase(it);
    CountMapping(m, cut, -1);
    if (m_start < cut_start)
      mappings_[m_start] = Mapping{cut_start - m_start, m.stack, m.reserved, m.discarded};
    if (cut_end < m_end)
      mappings_[cut_end] = Mapping{m_end - cut_end, m.stack, m.reserved, m.discarded};
    changed.length = cut_end - cut_start;
    mappings_[cut_start] = changed;
    CountMapping(changed, cut, 1);
    if (m.reserved && !changed.reserved) {  // newly committed: mapped over the run
      State(changed.stack).fig.mapped_bytes += cut;
      m_->totals.mapped_bytes += cut;
    }
    it = mappings_.lower_bound(cut_end);
  }
}

std::map<uint64_t, Mapping>::iterator Replayer::FirstMappingEndingAfter(uint64_t address) {
  auto it = mappings_.upper_bound(address);
  if (it != mappings_.begin()) {
    auto before = std::prev(it);
    if (before->first + before->second.length > address) return before;
  }
  return it;
}

void Replayer::CountMapping(const Mapping& m, double bytes, double sign) {
  StackState& st = State(m.stack);
  if (m.reserved) {
    st.fig.reserved_live_bytes += sign * bytes;
    m_->totals.reserved_live_bytes += sign * bytes;
    return;
  }
  if (m.discarded) {
    st.fig.discarded_live_bytes += sign * bytes;
    m_->totals.discarded_live_bytes += sign * bytes;
    return;
  }
  st.fig.mapped_live_bytes += sign * bytes;
  st.pend_mapped += sign * bytes;
  Touch(m.stack, st);
  m_->totals.mapped_live_bytes += sign * bytes;
}

void Replayer::Unmap(uint64_t address, uint64_t length, bool* reserved) {
  const uint64_t end = address + length;
  auto it = FirstMappingEndingAfter(address);
  if (reserved != nullptr && it != mappings_.end() && it->first <= address) {
    *reserved = it->second.reserved;
  }
  while (it != mappings_.end() && it->first < end) {
    uint64_t m_start = it->first;
    Mapping m = it->second;
    uint64_t m_end = m_start + m.length;
    it = mappings_.erase(it);
    uint64_t cut_start = std::max(m_start, address), cut_end = std::min(m_end, end);
    CountMapping(m, static_cast<double>(cut_end - cut_start), -1);
    if (m_start < cut_start) {
      mappings_[m_start] = Mapping{cut_start - m_start, m.stack, m.reserved, m.discarded};
    }
    if (cut_end < m_end) {
      mappings_[cut_end] = Mapping{m_end - cut_end, m.stack, m.reserved, m.discarded};
      break;
    }
    it = mappings_.lower_bound(cut_end);
  }
}

void Replayer::Map(uint64_t address, uint64_t length, StackId stack, bool reserved) {
  Unmap(address, length);
  Mapping m{length, stack, reserved};
  mappings_[address] = m;
  double len = static_cast<double>(length);
  CountMapping(m, len, 1);
  SiteFigures& site = State(stack).fig;
  site.mmap_calls += 1;
  m_->totals.mmap_calls += 1;
  if (!reserved) {
    site.mapped_bytes += len;
    m_->totals.mapped_bytes += len;
  }
}

}  // namespace allocwatch::report::detail
