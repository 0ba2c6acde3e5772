// report/replay/mapping_records.cc: mappings: Mmap, Munmap, Mremap, Protect and Advise records,
// and the mapped ranges they leave (an unmap may cut a range in two, an mprotect in three).
// An inaccessible range (PROT_NONE) is reserved address space: it is counted apart
// (reserved_live_bytes) and never as memory.
#include <sys/mman.h>

#include <algorithm>

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
  const uint64_t end = rec.address + rec.length;
  auto it = FirstMappingEndingAfter(rec.address);
  while (it != mappings_.end() && it->first < end) {
    const uint64_t m_start = it->first;
    const Mapping m = it->second;
    const uint64_t m_end = m_start + m.length;
    if (m.reserved == reserve) {
      ++it;
      continue;
    }
    const uint64_t cut_start = std::max(m_start, rec.address), cut_end = std::min(m_end, end);
    const double cut = static_cast<double>(cut_end - cut_start);
    it = mappings_.erase(it);
    CountMapping(m, cut, -1);
    if (m_start < cut_start) mappings_[m_start] = Mapping{cut_start - m_start, m.stack, m.reserved};
    if (cut_end < m_end) mappings_[cut_end] = Mapping{m_end - cut_end, m.stack, m.reserved};
    // Committed bytes are charged to the caller of mprotect when it was kept (the mapping's own
    // stack otherwise); reserved ones stay with the mapping's stack.
    StackId owner = m.stack;
    if (!reserve && rec.stack_id != 0 && Kept(rec.time_ns, rec.tid)) owner = StackId{rec.stack_id};
    Mapping changed{cut_end - cut_start, owner, reserve};
    mappings_[cut_start] = changed;
    CountMapping(changed, cut, 1);
    if (!reserve) {
      SiteFigures& site = State(owner).fig;
      site.mapped_bytes += cut;
      m_->totals.mapped_bytes += cut;
    }
    it = mappings_.lower_bound(cut_end);
  }
  TrackPeak(rec.time_ns);
}

void Replayer::OnAdvise(const RawRecord& r) {
  auto rec = As<format::AdviseRecord>(r);
  const uint64_t end = rec.address + rec.length;
  for (auto it = FirstMappingEndingAfter(rec.address); it != mappings_.end() && it->first < end;
       ++it) {
    const Mapping& m = it->second;
    if (m.reserved) continue;
    const uint64_t m_end = it->first + m.length;
    double cut = static_cast<double>(std::min(m_end, end) - std::max(it->first, rec.address));
    State(m.stack).fig.advised_bytes += cut;
    m_->totals.advised_bytes += cut;
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
  st.fig.mapped_live_bytes += sign * bytes;
  Touch(m.stack, st, 0, 0, sign * bytes, 0, 0, 0);
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
    if (m_start < cut_start) mappings_[m_start] = Mapping{cut_start - m_start, m.stack, m.reserved};
    if (cut_end < m_end) {
      mappings_[cut_end] = Mapping{m_end - cut_end, m.stack, m.reserved};
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
